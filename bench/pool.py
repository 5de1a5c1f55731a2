"""The pool sweep at scale: ``python -m bench pool [--scale M|L] [--db sqlite|postgres]``.

Builds (or reuses) its own data set — N private customers (M = 10k, L = 100k) of 50 reps in one pool —
in its own database (``bench/.data/bench-pool-<scale>.sqlite3`` or PostgreSQL ``steelyard_bench_pool_<scale>``),
resets it so that every fifth customer is due, runs the sweep, then a second sweep (which must move
nothing), and prints one JSON line. Target: the sweep of 100k customers with 20k due in ≤ 15 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from typing import Any

from bench.scale import DATA_DIR, PG_BASE_URL, REPO_ROOT, _create_pg_database

SIZES = {"S": 1_000, "M": 10_000, "L": 100_000}
REPS = 50


def _setup(scale: str, db: str) -> None:
    if db == "sqlite":
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{DATA_DIR / f'bench-pool-{scale}.sqlite3'}"
    else:
        url = PG_BASE_URL.rstrip("/") + f"/steelyard_bench_pool_{scale.lower()}"
        _create_pg_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "steelyard.settings")
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    import django

    django.setup()


def _build(n: int) -> dict[str, Any]:
    """The org unit, reps, pool and N customers (bulk inserts); reused when already there."""
    from django.core.management import call_command

    from steelyard.customers.models import Customer, Pool, PoolRule
    from steelyard.org.models import OrgUnit, User

    call_command("migrate", verbosity=0, interactive=False)
    unit = OrgUnit.objects.filter(code="bench-pool").first()
    if unit is None:
        unit = OrgUnit(name="Bench pool team", code="bench-pool", kind="team")
        unit.save()
    manager, _ = User.objects.get_or_create(username="bench-pool-mgr", defaults={"org_unit": unit})
    reps = list(User.objects.filter(username__startswith="bench-pool-rep").order_by("pk"))
    if len(reps) < REPS:
        User.objects.bulk_create(
            [
                User(username=f"bench-pool-rep{i}", org_unit=unit, manager=manager)
                for i in range(len(reps), REPS)
            ]
        )
        reps = list(User.objects.filter(username__startswith="bench-pool-rep").order_by("pk"))
    pool, _ = Pool.objects.get_or_create(name="Bench pool", org_unit=unit)
    PoolRule.objects.get_or_create(pool=pool, trigger="no_visit", tier="", defaults={"days": 90})
    have = Customer.objects.filter(pool=pool).count()
    started = time.perf_counter()
    batch: list[Customer] = []
    for i in range(have, n):
        name = f"基准客户{i:06d}有限公司"
        batch.append(Customer(legal_name=name, name_key=name, pool=pool, org_unit=unit, owner=reps[i % REPS]))
        if len(batch) == 5000:
            Customer.objects.bulk_create(batch)
            batch = []
    if batch:
        Customer.objects.bulk_create(batch)
    return {
        "pool": pool,
        "reps": reps,
        "build_s": round(time.perf_counter() - started, 1) if have < n else None,
    }


def _reset(pool: Any, reps: list[Any], now: dt.datetime) -> int:
    """Every customer private again; every fifth one due yesterday, the rest in 30 days."""
    from django.db import connection, transaction
    from django.db.models import IntegerField, Value
    from django.db.models.functions import Mod

    from steelyard.core.models import Notification
    from steelyard.customers.models import Customer, OwnershipEvent

    today = now.date()
    with transaction.atomic():
        OwnershipEvent.objects.filter(customer__pool=pool).delete()
        Notification.objects.filter(event="pool.recycled").delete()
        qs = Customer.objects.filter(pool=pool)
        # Re-own the swept ones (one owner per rep, by pk) and set the dates set-based.
        for i, rep in enumerate(reps):
            qs.annotate(m=Mod("pk", Value(REPS), output_field=IntegerField())).filter(m=i).update(owner=rep)
        qs.annotate(m=Mod("pk", Value(5), output_field=IntegerField())).filter(m=0).update(
            recycle_at=today - dt.timedelta(days=1),
            recycle_trigger="no_visit",
            owned_since=now - dt.timedelta(days=91),
        )
        qs.annotate(m=Mod("pk", Value(5), output_field=IntegerField())).exclude(m=0).update(
            recycle_at=today + dt.timedelta(days=30),
            recycle_trigger="no_visit",
            owned_since=now - dt.timedelta(days=60),
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE customers_customer")
    return Customer.objects.filter(pool=pool, owner__isnull=False, recycle_at__lte=today).count()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench pool", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=tuple(SIZES), default="L")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args(argv)
    _setup(args.scale, args.db)

    from django.utils import timezone

    from steelyard.customers.models import Customer
    from steelyard.customers.services.pool import pool_sweep

    n = SIZES[args.scale]
    built = _build(n)
    now = timezone.now()
    due = _reset(built["pool"], built["reps"], timezone.localtime(now))
    t0 = time.perf_counter()
    first = pool_sweep(now=now)
    sweep_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    second = pool_sweep(now=now)
    second_s = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "bench": "pool",
                "scale": args.scale,
                "db": args.db,
                "customers": Customer.objects.filter(pool=built["pool"]).count(),
                "due": due,
                "build_s": built["build_s"],
                "sweep_s": round(sweep_s, 2),
                "moved": first["moved"],
                "second_sweep_s": round(second_s, 2),
                "second_moved": second["moved"],
                "target_s": 15,
            }
        )
    )
    return 0 if first["moved"] == due and second["moved"] == 0 else 1
