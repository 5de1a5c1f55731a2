"""Tier assessment at scale: ``python -m bench tiering [--scale L] [--db sqlite|postgres|all]``.

Builds (or reuses) its own data set — L: 100k customers, ~200k orders with ~1M order lines over three
years, invoices for ~60% of the orders and payments for most of them, shipped serial-numbered units for
~20%, entered potential / strategic fit for some customers (M = 10k customers, S = 1k) — in its own
database (``bench/.data/bench-tiering-<scale>.sqlite3`` or PostgreSQL ``steelyard_bench_tiering``,
``…_<scale>`` below L), with the shipped global tier model (every factor). Rows are bulk-inserted with
raw SQL (``executemany`` on SQLite, ``COPY`` on PostgreSQL).

Then it clears the model's earlier tiers (so the first run is a cold one: every customer new, every
``Customer.tier`` written; ``--keep`` skips that), times ``assessment_run`` — which computes every
factor in SQL, scores, applies hysteresis and writes 100k assessments and tiers — and a second run over
the same data (every customer known: the weekly case). Prints one JSON line per database:
``assess_s``, ``customers``, ``order_lines``, ``changed``, ``assess_again_s`` … Target: ≤ 5 s per run.
``--follow`` also times the background job that moves the pool clocks of the customers whose tier
changed (not part of the run). ``--db all`` runs both databases one after the other, each in its own
process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from random import Random
from typing import Any

from bench.scale import DATA_DIR, PG_BASE_URL, REPO_ROOT, _create_pg_database

SIZES = {"S": 1_000, "M": 10_000, "L": 100_000}
ORDERS_PER_CUSTOMER = 2
REPS = 50
MARKER_VERB = "bench.tiering_built"
TARGET_S = 5
SEED = 42


def database_url(scale: str, db: str) -> str:
    suffix = "" if scale == "L" else f"_{scale.lower()}"
    if db == "sqlite":
        return f"sqlite:///{DATA_DIR / f'bench-tiering-{scale}.sqlite3'}"
    return PG_BASE_URL.rstrip("/") + f"/steelyard_bench_tiering{suffix}"


def _setup(scale: str, db: str) -> None:
    url = database_url(scale, db)
    if db == "sqlite":
        DATA_DIR.mkdir(parents=True, exist_ok=True)
    else:
        _create_pg_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "steelyard.settings")
    # The follow-up job runs inline when asked for, and nothing is sent to the development queue.
    os.environ["TASK_BACKEND"] = "immediate"
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    import django

    django.setup()


# --- raw bulk inserts ---------------------------------------------------------------------------


class Inserter:
    """Insert rows of one model with raw SQL: the given columns, every other column at its default."""

    def __init__(self, model: Any, columns: list[str]) -> None:
        from django.db import connection
        from django.db.models import JSONField
        from django.utils import timezone

        self.connection = connection
        self.model = model
        fields = {f.column: f for f in model._meta.concrete_fields}
        self.given = columns
        self.rest: list[str] = []
        self.defaults: list[Any] = []
        now = timezone.now()
        for column, f in fields.items():
            if column in columns or f.primary_key:
                continue
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                value: Any = now
            elif f.has_default():
                value = f.get_default()
            elif f.null:
                value = None
            else:
                value = ""
            if isinstance(f, JSONField) and value is not None:
                value = json.dumps(value)
            elif connection.vendor == "sqlite" and isinstance(value, dt.datetime):
                value = connection.ops.adapt_datetimefield_value(value)
            self.rest.append(column)
            self.defaults.append(value)
        self.table = connection.ops.quote_name(model._meta.db_table)
        self.names = [*self.given, *self.rest]

    def insert(self, rows: list[tuple]) -> None:
        if not rows:
            return
        tail = tuple(self.defaults)
        with self.connection.cursor() as cursor:
            if self.connection.vendor == "postgresql":
                cols = ", ".join(self.connection.ops.quote_name(c) for c in self.names)
                with cursor.cursor.copy(f"COPY {self.table} ({cols}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row + tail)
            else:
                cols = ", ".join(self.connection.ops.quote_name(c) for c in self.names)
                marks = ", ".join(["%s"] * len(self.names))
                sql = f"INSERT INTO {self.table} ({cols}) VALUES ({marks})"
                cursor.executemany(sql, [row + tail for row in rows])


def _reset_sequences(*models: Any) -> None:
    from django.core.management.color import no_style
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), list(models)):
            cursor.execute(sql)


def _next_id(model: Any) -> int:
    from django.db.models import Max

    return (model.objects.aggregate(m=Max("pk"))["m"] or 0) + 1


# --- the data set -------------------------------------------------------------------------------


def _ensure_model() -> Any:
    """The shipped global tier model (migration tiering 0002), or the same settings when it is missing."""
    from steelyard.tiering.models import Factor, Tier, TierModel

    model = TierModel.objects.filter(product_line__isnull=True, is_active=True).first()
    if model is not None and model.factors.count() >= 10:
        return model
    from importlib import import_module

    defaults = import_module("steelyard.tiering.migrations.0002_defaults")
    TierModel.objects.filter(product_line__isnull=True, is_active=True).update(is_active=False)
    model = TierModel.objects.create(code="bench-global", name="Bench global model")
    for code, name, name_en, rank, min_score in defaults.TIERS:
        Tier.objects.create(
            model=model, code=code, name=name, name_en=name_en, rank=rank, min_score=Decimal(min_score)
        )
    for code, weight, scoring, bands, lower, upper, higher in defaults.FACTORS:
        Factor.objects.create(
            model=model,
            code=code,
            weight=Decimal(weight),
            scoring=scoring,
            bands=bands,
            lower=Decimal(lower) if lower is not None else None,
            upper=Decimal(upper) if upper is not None else None,
            higher_is_better=higher,
        )
    return model


def build(n_customers: int, *, seed: int = SEED) -> dict[str, Any]:
    """The data set of ``n_customers``; reused when its marker row is there."""
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from steelyard.catalog.models import Product, ProductLine
    from steelyard.core.models import AuditAction, AuditLog
    from steelyard.core.services.audit import audit_record
    from steelyard.customers.models import Customer, Pool, PoolRule
    from steelyard.orders.models import (
        Invoice,
        OrderLine,
        Payment,
        SalesOrder,
        Shipment,
        ShipmentLine,
        ShippedUnit,
    )
    from steelyard.org.models import OrgUnit, User
    from steelyard.tiering.models import EnteredValue

    call_command("migrate", verbosity=0, interactive=False)
    marker = f"{n_customers}:{seed}"
    if AuditLog.objects.filter(verb=MARKER_VERB, object_repr=marker).exists():
        return {"build_s": None}
    print(f"building the tiering data set: {n_customers:,} customers ...", flush=True)
    started = time.perf_counter()
    rng = Random(seed)
    today = timezone.localdate()
    now = timezone.now()
    sqlite = connection.vendor == "sqlite"
    if sqlite:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA synchronous = OFF")

    unit = OrgUnit.objects.filter(code="bench-tiering").first()
    if unit is None:
        unit = OrgUnit(name="Bench tiering team", code="bench-tiering", kind="team")
        unit.save()
    reps = list(User.objects.filter(username__startswith="bench-tier-rep").order_by("pk"))
    if not reps:
        User.objects.bulk_create([User(username=f"bench-tier-rep{i}", org_unit=unit) for i in range(REPS)])
        reps = list(User.objects.filter(username__startswith="bench-tier-rep").order_by("pk"))
    pool, _ = Pool.objects.get_or_create(name="Bench tiering pool", org_unit=unit)
    PoolRule.objects.get_or_create(pool=pool, trigger="no_visit", tier="", defaults={"days": 45})
    PoolRule.objects.get_or_create(pool=pool, trigger="no_visit", tier="strategic", defaults={"days": 180})
    PoolRule.objects.get_or_create(pool=pool, trigger="no_visit", tier="key", defaults={"days": 120})

    lines_ = []
    for code, name in (
        ("BT-CRANE", "起重机"),
        ("BT-EXC", "挖掘机"),
        ("BT-PUMP", "泵车"),
        ("BT-PART", "配件"),
    ):
        line, _ = ProductLine.objects.get_or_create(code=code, defaults={"name": name})
        lines_.append(line)
    products = []
    for i in range(24):
        line = lines_[i % 4]
        price = (
            Decimal(rng.choice((800, 2_000, 25_000)))
            if line.code == "BT-PART"
            else Decimal(rng.randrange(200, 3_000) * 1000)
        )
        product, _ = Product.objects.get_or_create(
            code=f"BT-P{i:03d}",
            defaults={
                "name": f"基准产品{i}",
                "product_line": line,
                "kind": "part" if line.code == "BT-PART" else "machine",
                "list_price": price,
            },
        )
        products.append((product.pk, product.list_price))

    # Customers (ORM bulk_create: many columns with defaults), owned by the reps, in the pool.
    have = Customer.objects.filter(org_unit=unit).count()
    batch = []
    for i in range(have, n_customers):
        name = f"基准分级客户{i:06d}有限公司"
        batch.append(
            Customer(
                legal_name=name,
                name_key=name,
                owner=reps[i % REPS],
                org_unit=unit,
                pool=pool,
                status="active",
                owned_since=now - dt.timedelta(days=rng.randrange(30, 900)),
                last_visit_at=now - dt.timedelta(days=rng.randrange(0, 200)),
            )
        )
        if len(batch) == 5000:
            Customer.objects.bulk_create(batch)
            batch = []
    if batch:
        Customer.objects.bulk_create(batch)
    ids = list(Customer.objects.filter(org_unit=unit).order_by("pk").values_list("pk", flat=True))
    print(f"  customers: {len(ids):,}", flush=True)

    # Orders and lines: a few big customers buy a lot, many buy a little, some never.
    weights = [rng.paretovariate(1.3) if rng.random() < 0.85 else 0.0 for _ in ids]
    buyers = rng.choices(ids, weights=weights, k=len(ids) * ORDERS_PER_CUSTOMER)
    order_ins = Inserter(
        SalesOrder, ["id", "number", "customer_id", "ordered_on", "amount", "status", "status_at", "source"]
    )
    line_ins = Inserter(
        OrderLine, ["order_id", "line_no", "product_id", "quantity", "unit_price", "amount", "unit_cost"]
    )
    inv_ins = Inserter(
        Invoice,
        ["id", "number", "customer_id", "order_id", "issued_on", "due_on", "amount", "status", "source"],
    )
    pay_ins = Inserter(Payment, ["number", "customer_id", "invoice_id", "received_on", "amount", "source"])
    ship_ins = Inserter(
        Shipment, ["id", "number", "order_id", "customer_id", "shipped_on", "amount", "source"]
    )
    sline_ins = Inserter(ShipmentLine, ["id", "shipment_id", "order_line_id", "quantity"])
    unit_ins = Inserter(ShippedUnit, ["shipment_line_id", "product_id", "serial_number"])
    order_id, line_id = _next_id(SalesOrder), _next_id(OrderLine)
    invoice_id, shipment_id, sline_id = _next_id(Invoice), _next_id(Shipment), _next_id(ShipmentLine)
    status_at = connection.ops.adapt_datetimefield_value(now) if sqlite else now

    def adapt(d: dt.date) -> Any:
        return d.isoformat() if sqlite else d

    counts = {"orders": 0, "order_lines": 0, "invoices": 0, "payments": 0, "units": 0}
    chunk = 20_000
    for start in range(0, len(buyers), chunk):
        orders, lines, invoices, payments, shipments, slines, units = [], [], [], [], [], [], []
        for cid in buyers[start : start + chunk]:
            ordered_on = today - dt.timedelta(days=rng.randrange(0, 3 * 365))
            status = (
                "cancelled"
                if rng.random() < 0.03
                else rng.choice(("confirmed", "shipped", "delivered", "accepted"))
            )
            total = Decimal("0")
            first_line = line_id
            first_product = None
            for no in range(1, rng.randint(1, 9) + 1):
                pid, price = products[rng.randrange(len(products))]
                qty = rng.randint(1, 3)
                unit_price = (price * Decimal(rng.randint(80, 105)) / 100).quantize(Decimal("0.01"))
                amount = unit_price * qty
                cost = (
                    (unit_price * Decimal(rng.randint(55, 85)) / 100).quantize(Decimal("0.01"))
                    if rng.random() < 0.8
                    else None
                )
                lines.append((order_id, no, pid, Decimal(qty), unit_price, amount, cost))
                total += amount
                if first_product is None:
                    first_product = (pid, qty)
                line_id += 1
            orders.append(
                (order_id, f"BT-SO{order_id:08d}", cid, adapt(ordered_on), total, status, status_at, "bench")
            )
            if status != "cancelled" and rng.random() < 0.6:
                issued = ordered_on + dt.timedelta(days=rng.randrange(0, 60))
                if issued <= today:
                    due = issued + dt.timedelta(days=rng.choice((30, 60, 90)))
                    invoices.append(
                        (
                            invoice_id,
                            f"BT-INV{invoice_id:08d}",
                            cid,
                            order_id,
                            adapt(issued),
                            adapt(due),
                            total,
                            "issued",
                            "bench",
                        )
                    )
                    r = rng.random()
                    if r < 0.85:
                        paid_on = due + dt.timedelta(days=rng.randrange(-25, 60))
                        if paid_on <= today:
                            part = total if rng.random() < 0.9 else (total / 2).quantize(Decimal("0.01"))
                            payments.append(
                                (f"BT-PAY{invoice_id:08d}", cid, invoice_id, adapt(paid_on), part, "bench")
                            )
                    invoice_id += 1
            if status in ("shipped", "delivered", "accepted") and rng.random() < 0.3:
                shipped = ordered_on + dt.timedelta(days=rng.randrange(10, 90))
                if shipped <= today:
                    shipments.append(
                        (
                            shipment_id,
                            f"BT-SH{shipment_id:08d}",
                            order_id,
                            cid,
                            adapt(shipped),
                            Decimal("0"),
                            "bench",
                        )
                    )
                    pid, qty = first_product
                    slines.append((sline_id, shipment_id, first_line, Decimal(qty)))
                    units.extend((sline_id, pid, f"BT-SN{sline_id:08d}-{k}") for k in range(qty))
                    shipment_id += 1
                    sline_id += 1
            order_id += 1
        with transaction.atomic():
            order_ins.insert(orders)
            line_ins.insert(lines)
            inv_ins.insert(invoices)
            pay_ins.insert(payments)
            ship_ins.insert(shipments)
            sline_ins.insert(slines)
            unit_ins.insert(units)
        counts["orders"] += len(orders)
        counts["order_lines"] += len(lines)
        counts["invoices"] += len(invoices)
        counts["payments"] += len(payments)
        counts["units"] += len(units)
        print(f"  orders: {counts['orders']:,}  lines: {counts['order_lines']:,}", flush=True)
    _reset_sequences(SalesOrder, OrderLine, Invoice, Payment, Shipment, ShipmentLine, ShippedUnit)
    entered = []
    for cid in ids:
        if rng.random() < 0.1:
            entered.append(
                EnteredValue(
                    customer_id=cid, code="potential", value=Decimal(rng.randrange(1, 80) * 1_000_000)
                )
            )
        if rng.random() < 0.05:
            entered.append(
                EnteredValue(customer_id=cid, code="strategic_fit", value=Decimal(rng.randint(0, 5)))
            )
    EnteredValue.objects.bulk_create(entered, batch_size=5000, ignore_conflicts=True)
    with connection.cursor() as cursor:
        if sqlite:
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("ANALYZE")
        else:
            # What autovacuum would do to a freshly loaded database, done now rather than in the middle
            # of the timed run (visibility map, free space, statistics).
            cursor.execute("VACUUM ANALYZE")
    build_s = round(time.perf_counter() - started, 1)
    audit_record(
        actor=None,
        action=AuditAction.ACTION,
        verb=MARKER_VERB,
        object_repr=marker,
        extra={**counts, "build_s": build_s},
    )
    print(f"built in {build_s}s: {counts}", flush=True)
    return {"build_s": build_s}


def _reset_tiers(model: Any) -> None:
    """Forget the model's earlier runs, tiers and the customers' tiers: the next run is a cold one."""
    from django.db import connection, transaction

    from steelyard.customers.models import Customer
    from steelyard.tiering.models import Assessment, AssessmentRun, CustomerTier

    with transaction.atomic():
        CustomerTier.objects.filter(model=model).delete()
        Assessment.objects.filter(run__model=model)._raw_delete(connection.alias)
        AssessmentRun.objects.filter(model=model).delete()
        Customer.objects.exclude(tier="").update(tier="")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in (
                "tiering_assessment",
                "tiering_customertier",
                "tiering_assessmentrun",
                "customers_customer",
            ):
                cursor.execute(f"VACUUM ANALYZE {table}")
        else:
            cursor.execute("PRAGMA optimize")


def run_one(scale: str, db: str, *, follow: bool, keep: bool = False) -> dict[str, Any]:
    _setup(scale, db)
    built = build(SIZES[scale])

    from django.db import connection

    from steelyard.orders.models import Invoice, OrderLine, Payment, SalesOrder, ShippedUnit
    from steelyard.tiering.services.assessment import assessment_run, tier_changes_follow

    model = _ensure_model()
    if not keep:
        _reset_tiers(model)
    t0 = time.perf_counter()
    first = assessment_run(model=model, follow_up=False)
    assess_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    second = assessment_run(model=model, follow_up=False)
    again_s = time.perf_counter() - t0
    result: dict[str, Any] = {
        "bench": "tiering",
        "db": db,
        "scale": scale,
        "customers": first.customers,
        "orders": SalesOrder.objects.count(),
        "order_lines": OrderLine.objects.count(),
        "invoices": Invoice.objects.count(),
        "payments": Payment.objects.count(),
        "shipped_units": ShippedUnit.objects.count(),
        "build_s": built["build_s"],
        "first_run": "warm (every customer known)" if keep else "cold (every customer new)",
        "assess_s": round(assess_s, 2),
        "changed": first.changed,
        "tiers": _distribution(model),
        "assess_again_s": round(again_s, 2),
        "changed_again": second.changed,
        "target_s": TARGET_S,
    }
    if follow:
        t0 = time.perf_counter()
        followed = tier_changes_follow(run=first)
        result["clock_follow_s"] = round(time.perf_counter() - t0, 2)
        result["clocks_changed"] = followed["changed"]
    result["ok"] = assess_s <= TARGET_S and again_s <= TARGET_S
    connection.close()
    return result


def _distribution(model: Any) -> dict[str, int]:
    from steelyard.tiering.selectors.assessment import tier_distribution

    return tier_distribution(model=model)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench tiering", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=tuple(SIZES), default="L")
    parser.add_argument("--db", choices=("sqlite", "postgres", "all"), default="sqlite")
    parser.add_argument("--follow", action="store_true", help="also time the pool-clock follow-up job")
    parser.add_argument(
        "--keep", action="store_true", help="keep the earlier tiers: both runs warm (every customer known)"
    )
    args = parser.parse_args(argv)
    if args.db == "all":
        status = 0
        for db in ("sqlite", "postgres"):
            cmd = [sys.executable, "-m", "bench", "tiering", "--scale", args.scale, "--db", db]
            flags = [f for f, on in (("--follow", args.follow), ("--keep", args.keep)) if on]
            status |= subprocess.call([*cmd, *flags], cwd=REPO_ROOT)  # noqa: S603
        return status
    result = run_one(args.scale, args.db, follow=args.follow, keep=args.keep)
    print(
        f"tiering {args.db:<8} {result['customers']:>7,} customers {result['order_lines']:>9,} order lines: "
        f"assess {result['assess_s']:.2f}s (changed {result['changed']:,}), "
        f"again {result['assess_again_s']:.2f}s (changed {result['changed_again']:,}); target ≤ {TARGET_S}s"
    )
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["ok"] else 1
