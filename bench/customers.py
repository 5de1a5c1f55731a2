"""Customer list, search and 360 page at scale: ``python -m bench customers [--scale L] [--db sqlite|postgres]``.

Reuses the scale data set of ``bench/scale.py`` (its ~500 users in ~170 units) and tops it up with
bulk-inserted customers (M = 10k, L = 100k; ~2 contacts each; ~15% in the pools) spread over the
sales reps. Then times, server-side through Django's test ``Client`` (like ``bench/pages.py``), for a
rep, a manager and an administrator: the list's first page, a deep page, a pinyin-initials search and
the customer 360 page. Prints a table and one JSON line. Target: p95 ≤ 200 ms.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from random import Random
from typing import Any

from bench.pages import measure
from bench.scale import add_common_arguments, ensure_dataset, setup_django

SIZES = {"S": 0, "M": 10_000, "L": 100_000}
BATCH = 5_000
POOL_SHARE = 0.15
BENCH_CODE_PREFIX = "92"  # the demo uses 91…: bench credit codes never collide with it
CITIES = (
    "上海 杭州 南京 苏州 宁波 北京 天津 济南 青岛 广州 深圳 佛山 成都 重庆 武汉 长沙 郑州 西安 沈阳 大连 合肥 福州 "
    "厦门 南宁 昆明 贵阳 太原 石家庄 徐州 洛阳"
).split()
WORDS = (
    "宏达 恒通 鼎力 众联 华建 金诚 鑫源 中恒 远大 泰和 安达 广厦 永固 联峰 天成 盛世 东方 锦程 振兴 瑞丰 同创 海天 长城 "
    "银河 嘉诚 汇通 宏图 荣盛 凯旋 华瑞 星辰 通达 德信 鸿运 卓越 博远 昌盛 新纪"
).split()
KINDS = (
    "建设集团有限公司 建筑工程有限公司 路桥建设有限公司 设备租赁有限公司 起重吊装有限公司 港务有限公司 矿业有限公司 "
    "电力工程有限公司 水务工程有限公司 钢结构有限公司 机械租赁有限公司 市政工程有限公司"
).split()
INDUSTRY_OF_KIND = (
    "construction",
    "construction",
    "construction",
    "rental",
    "rental",
    "ports",
    "mining",
    "energy",
    "municipal",
    "manufacturing",
    "rental",
    "municipal",
)


@functools.lru_cache(maxsize=4096)
def _pinyin(part: str) -> tuple[str, str]:
    from steelyard.customers.normalize import pinyin_of

    return pinyin_of(part)


def build_customers(target: int, *, seed: int = 42) -> dict[str, Any]:
    """Bulk-insert customers (and ~2 contacts each) until there are ``target`` bench customers."""
    import datetime as dt

    from django.db import connection, transaction
    from django.utils import timezone

    from steelyard.customers.models import Contact, Customer, Pool
    from steelyard.customers.normalize import name_key
    from steelyard.customers.validators import credit_code_check_char
    from steelyard.org.models import OrgUnit, User

    have = Customer.objects.filter(credit_code__startswith=BENCH_CODE_PREFIX).count()
    if have >= target:
        return {"built": 0, "build_s": None}
    started = time.perf_counter()
    rng = Random(f"{seed}:bench.customers:{have}")
    reps = list(
        User.objects.filter(roles__code="sales_rep", is_active=True).select_related("org_unit").order_by("pk")
    )
    if not reps:
        raise SystemExit("no sales reps in the data set: run python -m bench scale first")
    pools = {p.org_unit_id: p.pk for p in Pool.objects.all()}
    units = {u.pk: u for u in OrgUnit.objects.all()}
    if not pools:  # one pool per branch (the units above the reps' teams)
        for unit_id in {r.org_unit.parent_id for r in reps if r.org_unit and r.org_unit.parent_id}:
            pool = Pool.objects.create(name=f"{units[unit_id].name}公海", org_unit=units[unit_id])
            pools[unit_id] = pool.pk
    members = []
    for r in reps:
        pid = pools.get(r.org_unit.parent_id) if r.org_unit else None
        if pid:
            members.append(Pool.members.through(pool_id=pid, user_id=r.pk))
    Pool.members.through.objects.bulk_create(members, ignore_conflicts=True)

    def pool_for(rep: Any) -> int | None:
        return pools.get(rep.org_unit_id) or (pools.get(rep.org_unit.parent_id) if rep.org_unit else None)

    now = timezone.now()
    tune = connection.vendor == "sqlite"
    if tune:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA synchronous = OFF")
    created = 0
    serial = have
    while created < target - have:
        size = min(BATCH, target - have - created)
        customers = []
        phones = []
        for _i in range(size):
            serial += 1
            city, w1, w2 = CITIES[serial % len(CITIES)], rng.choice(WORDS), rng.choice(WORDS)
            k = rng.randrange(len(KINDS))
            legal = f"{city}{w1}{w2}{KINDS[k]}"
            if serial > len(CITIES) * len(WORDS) ** 2:
                legal = f"{city}{w1}{w2}第{serial}{KINDS[k]}"
            parts = [_pinyin(city), _pinyin(w1), _pinyin(w2), _pinyin(KINDS[k])]
            body = f"{BENCH_CODE_PREFIX}{serial:015d}"[:17]
            rep = rng.choice(reps)
            in_pool = rng.random() < POOL_SHARE
            last_visit = now - dt.timedelta(days=rng.randint(0, 120), seconds=rng.randrange(86400))
            owned_since = now - dt.timedelta(days=rng.randint(30, 700))
            customers.append(
                Customer(
                    legal_name=legal,
                    short_name=f"{city}{w1}",
                    name_key=name_key(legal),
                    pinyin="".join(p[0] for p in parts)[:400],
                    pinyin_initials="".join(p[1] for p in parts)[:80],
                    credit_code=body + credit_code_check_char(body),
                    industry=INDUSTRY_OF_KIND[k],
                    province="",
                    city=city,
                    size=rng.choice(("small", "medium", "large", "giant")),
                    status=rng.choice(("prospect", "active", "active", "dormant", "lost")),
                    source="import",
                    is_key_account=rng.random() < 0.05,
                    owner=None if in_pool else rep,
                    org_unit_id=rep.org_unit_id,
                    pool_id=pool_for(rep),
                    owned_since=None if in_pool else owned_since,
                    previous_owner=rep if in_pool else None,
                    last_visit_at=last_visit,
                    last_followup_at=last_visit,
                    recycle_at=None if in_pool else (timezone.localdate(last_visit) + dt.timedelta(days=60)),
                    recycle_trigger="" if in_pool else "no_visit",
                    recycle_since=None if in_pool else last_visit,
                )
            )
            phones.append(
                [
                    f"1{rng.choice('3578')}{serial % 10**9:09d}{j}"[:11]
                    for j in range(rng.choice((1, 2, 2, 3)))
                ]
            )
        with transaction.atomic():
            Customer.objects.bulk_create(customers, batch_size=1000)
            if not customers[0].pk:  # backends without RETURNING: read the ids back
                ids = dict(
                    Customer.objects.filter(credit_code__in=[c.credit_code for c in customers]).values_list(
                        "credit_code", "pk"
                    )
                )
                for c in customers:
                    c.pk = ids[c.credit_code]
            contacts = [
                Contact(
                    customer_id=c.pk,
                    name=f"联系人{j + 1}",
                    title="设备部经理",
                    phone=p,
                    phone_key=p,
                    is_primary=j == 0,
                )
                for c, ps in zip(customers, phones, strict=True)
                for j, p in enumerate(ps)
            ]
            Contact.objects.bulk_create(contacts, batch_size=2000)
        created += size
        print(f"  customers: {have + created:,}/{target:,}", flush=True)
    if tune:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("ANALYZE")
    elif connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return {"built": created, "build_s": round(time.perf_counter() - started, 1)}


def _pages(user: Any) -> list[tuple[str, str]]:
    from steelyard.customers.selectors.customers import customer_base

    visible = customer_base(user=user).order_by("pk")
    sample = visible.filter(owner__isnull=False).values_list("pk", flat=True)[:1]
    detail = f"/customers/{sample[0]}/" if sample else ""
    pages = [("list", "/customers/"), ("list_deep", "/customers/?page=200"), ("search", "/customers/?q=shhd")]
    if detail:
        pages.append(("detail", detail))
    return pages


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench customers", description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    parser.add_argument("-n", type=int, default=30, help="timed requests per page (default 30)")
    args = parser.parse_args(argv)
    setup_django(args.scale, args.db)
    base = ensure_dataset(args.scale, rebuild=args.rebuild)
    built = build_customers(SIZES[args.scale])

    from django.test import Client

    from steelyard.customers.models import Customer
    from steelyard.org.models import User

    result: dict[str, Any] = {"bench": "customers", "scale": args.scale, "db": args.db, "n": args.n}
    worst: dict[str, list[float]] = {}
    print(f"{'login':<8} {'page':<10} {'url':<28} {'status':>6} {'p50 ms':>8} {'p95 ms':>8} {'queries':>7}")
    for login in ("rep", "manager", "admin"):
        user = User.objects.get(username=login)
        client = Client()
        client.force_login(user)
        for key, url in _pages(user):
            m = measure(client, url, args.n)
            p50, p95 = m.get("p50"), m.get("p95")
            print(
                f"{login:<8} {key:<10} {url:<28} {m['status']:>6} {p50 if p50 is not None else '-':>8} "
                f"{p95 if p95 is not None else '-':>8} {m.get('queries', '-'):>7}"
                + (f"  {m['note']}" if m.get("note") else "")
            )
            result[f"{login}_{key}_p95_ms"] = p95
            if p95 is not None:
                worst.setdefault(f"{key}_p95", []).append(p95)
                worst.setdefault(f"{key}_p50", []).append(p50)
    for key in ("list", "list_deep", "search", "detail"):
        result[f"{key}_p50_ms"] = max(worst.get(f"{key}_p50", []), default=None)
        result[f"{key}_p95_ms"] = max(worst.get(f"{key}_p95", []), default=None)
    result["customers"] = Customer.objects.count()
    result["build_s"] = built["build_s"] if built["build_s"] is not None else base["build_s"]
    print(json.dumps(result, ensure_ascii=False))
    return 0
