"""Demo customers of 衡远重工: pools, rules, territories, ~300 customers with contacts and two years of visits.

The customers are *planned* from the seed alone (:func:`plan_demo_customers`: names, credit codes,
branches, contacts), then created through ``customer_create`` when their credit code (or, for
overseas customers, their normalised name) is not in the database yet — so a second run creates
nothing. Past activities are bulk-inserted (they carry historical times and would otherwise write
thousands of audit rows), and each customer's pool clock is then set from them and recomputed.

At the benchmark scales the volumes come from ``bench/customers.py``; this seeder stays at ~300.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from random import Random
from typing import Any

from django.db import transaction
from django.utils import timezone

from steelyard.core.demo import DemoContext, seeder
from steelyard.customers.normalize import name_key
from steelyard.customers.validators import CHARSET, credit_code_check_char
from steelyard.org.demo import GIVEN_NAMES, SURNAMES

# branch code → (province, cities, 6-digit administrative code of the province)
BRANCH_REGIONS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "sh": ("上海", ("上海",), "310000"),
    "hz": ("浙江", ("杭州", "宁波", "温州", "绍兴"), "330000"),
    "nj": ("江苏", ("南京", "苏州", "无锡", "徐州"), "320000"),
    "bj": ("北京", ("北京",), "110000"),
    "jn": ("山东", ("济南", "青岛", "烟台", "潍坊"), "370000"),
    "gz": ("广东", ("广州", "佛山", "东莞"), "440000"),
    "sz": ("广东", ("深圳", "惠州"), "440000"),
    "cd": ("四川", ("成都", "绵阳", "宜宾"), "510000"),
    "cq": ("重庆", ("重庆",), "500000"),
}
OVERSEAS: dict[str, tuple[str, ...]] = {
    "sea": ("PT {w} Konstruksi Indonesia", "{w} Mining Sdn Bhd", "{w} Port Services Pte Ltd"),
    "me": ("{w} Contracting LLC", "{w} Heavy Equipment Rental FZE", "{w} Marine Works WLL"),
}
OVERSEAS_WORDS = (
    "Nusantara",
    "Garuda",
    "Borneo",
    "Sentosa",
    "Falcon",
    "Oasis",
    "Al Noor",
    "Gulf Star",
    "Emirates Crest",
    "Desert Rose",
    "Mekong",
    "Andaman",
)
# industry → name patterns ({c} city, {w} word)
PATTERNS: dict[str, tuple[str, ...]] = {
    "construction": (
        "{c}{w}建设集团有限公司",
        "{c}{w}建筑工程有限公司",
        "{c}市政{w}工程有限公司",
        "{c}{w}路桥建设有限公司",
    ),
    "rental": ("{c}{w}设备租赁有限公司", "{c}{w}起重吊装有限公司", "{c}{w}机械租赁有限公司"),
    "ports": ("{c}港{w}集装箱码头有限公司", "{c}{w}港务有限公司"),
    "mining": ("{w}矿业有限公司", "{c}{w}建材矿山有限公司"),
    "energy": ("{c}{w}电力工程有限公司", "{c}{w}新能源有限公司"),
    "rail": ("{c}轨道交通{w}建设有限公司",),
    "municipal": ("{c}{w}水务工程有限公司",),
    "manufacturing": ("{c}{w}重型装备制造有限公司", "{c}{w}钢结构有限公司"),
}
INDUSTRY_WEIGHTS = [
    ("construction", 40),
    ("rental", 20),
    ("ports", 8),
    ("mining", 8),
    ("energy", 8),
    ("rail", 6),
    ("municipal", 5),
    ("manufacturing", 5),
]
WORDS = (
    "宏达 恒通 鼎力 众联 华建 金诚 鑫源 中恒 远大 泰和 安达 广厦 永固 联峰 天成 盛世 东方 锦程 振兴 瑞丰 "
    "同创 海天 长城 银河 嘉诚 新纪元 汇通 宏图 荣盛 凯旋 华瑞 星辰 通达 德信 鸿运 卓越 博远 昌盛"
).split()
GROUPS = (
    ("华夏建工集团有限公司", "华夏建工", "construction"),
    ("中联路桥集团有限公司", "中联路桥", "construction"),
    ("东方港航集团有限公司", "东方港航", "ports"),
    ("西部矿业控股集团有限公司", "西部矿业", "mining"),
)
TITLES = (
    "设备部经理",
    "采购部经理",
    "项目经理",
    "总工程师",
    "设备科长",
    "物资部主任",
    "副总经理",
    "机务主管",
    "财务经理",
    "工程部经理",
)
DECISION_ROLES = ("decision_maker", "technical", "procurement", "finance", "user", "influencer")
SIZES = ("small", "medium", "medium", "large", "large", "giant")
STATUSES = ("prospect", "active", "active", "active", "dormant", "lost")
SOURCES = ("self", "self", "referral", "exhibition", "campaign", "website", "tender")
TAGS = ("央企", "地方国企", "民企", "租赁商", "重点项目", "海外项目", "老客户")

TOTAL = 300
REP_CUSTOMERS = 15
POOL_SHARE = 0.15
POOL_RULES = [
    ("no_visit", "", 60),
    ("no_followup", "", 30),
    ("no_deal", "", 365),
    ("no_visit", "strategic", 120),
    ("no_followup", "strategic", 60),
    ("no_deal", "strategic", 730),
    ("no_visit", "key", 90),
    ("no_followup", "key", 45),
    ("no_deal", "key", 540),
]
VISIT_FREQUENCY = [("", 30), ("strategic", 14), ("key", 30), ("regular", 60)]


@dataclass
class CustomerSpec:
    key: str  # credit code, or the name key for overseas customers without one
    branch: str
    legal_name: str
    short_name: str
    credit_code: str
    industry: str
    province: str
    city: str
    address: str
    size: str
    status: str
    source: str
    is_key_account: bool
    tags: list[str]
    contacts: list[dict[str, Any]] = field(default_factory=list)
    parent: str = ""  # key of the group company
    in_pool: bool = False
    for_rep: bool = False


def _credit_code(rng: Random, region: str, used: set[str]) -> str:
    while True:
        body = "91" + region + "".join(rng.choice(CHARSET[:10]) for _ in range(8)) + rng.choice(CHARSET)
        code = body + credit_code_check_char(body)
        if code not in used:
            used.add(code)
            return code


def _phone(rng: Random, used: set[str]) -> str:
    while True:
        phone = f"1{rng.choice('3578')}{rng.randrange(10**8, 10**9)}"
        if phone not in used:
            used.add(phone)
            return phone


def plan_demo_customers(seed: int, total: int = TOTAL) -> list[CustomerSpec]:
    """The demo customers for ``seed`` (pure): the same seed always gives the same list."""
    rng = Random(f"{seed}:customers.plan")
    codes: set[str] = set()
    names: set[str] = set()
    phones: set[str] = set()
    specs: list[CustomerSpec] = []
    industries = [i for i, w in INDUSTRY_WEIGHTS for _ in range(w)]

    def contacts() -> list[dict[str, Any]]:
        out = []
        for i in range(rng.choice((1, 1, 2, 2, 2, 3, 3, 4))):
            name = rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES)
            phone = _phone(rng, phones)
            out.append(
                {
                    "name": name,
                    "title": rng.choice(TITLES),
                    "phone": phone,
                    "email": f"c{phone[-8:]}@example.cn" if rng.random() < 0.6 else "",
                    "decision_role": rng.choice(DECISION_ROLES),
                    "is_primary": i == 0,
                }
            )
        return out

    def add(branch: str, legal: str, short: str, industry: str, parent: str = "") -> CustomerSpec | None:
        key_name = name_key(legal)
        if key_name in names:
            return None
        names.add(key_name)
        overseas = branch in OVERSEAS
        province, cities, region = BRANCH_REGIONS.get(branch, ("", ("",), ""))
        city = rng.choice(cities)
        code = "" if overseas else _credit_code(rng, region, codes)
        spec = CustomerSpec(
            key=code or key_name,
            branch=branch,
            legal_name=legal,
            short_name=short,
            credit_code=code,
            industry=industry,
            province=province,
            city=city,
            address=""
            if overseas
            else f"{city}市{rng.choice(('高新区', '经开区', '滨江路', '建设路', '工业园'))}"
            f"{rng.randrange(1, 999)}号",
            size=rng.choice(SIZES),
            status=rng.choice(STATUSES),
            source=rng.choice(SOURCES),
            is_key_account=rng.random() < 0.12,
            tags=sorted(set(rng.sample(TAGS, rng.choice((0, 1, 1, 2))))),
            contacts=contacts(),
            parent=parent,
        )
        specs.append(spec)
        return spec

    domestic = list(BRANCH_REGIONS)
    for legal, short, industry in GROUPS:  # group companies and their subsidiaries in several branches
        group = add(rng.choice(domestic), legal, short, industry)
        assert group is not None
        group.size, group.is_key_account = "giant", True
        for branch in rng.sample(domestic, 3):
            city = BRANCH_REGIONS[branch][1][0]
            add(
                branch,
                f"{short}集团{city}{rng.choice(('第一', '第二', ''))}工程有限公司",
                f"{short}{city}",
                industry,
                parent=group.key,
            )
    for branch, patterns in OVERSEAS.items():
        for _i in range(8):
            add(branch, rng.choice(patterns).format(w=rng.choice(OVERSEAS_WORDS)), "", rng.choice(industries))
    while len(specs) < total:
        branch = "sh" if rng.random() < 0.2 else rng.choice(domestic)
        industry = rng.choice(industries)
        city = rng.choice(BRANCH_REGIONS[branch][1])
        word = rng.choice(WORDS)
        add(branch, rng.choice(PATTERNS[industry]).format(c=city, w=word), f"{city[:2]}{word}", industry)
    pool_slots = rng.sample(range(len(specs)), int(len(specs) * POOL_SHARE))
    for i in pool_slots:
        specs[i].in_pool = True
    shanghai = [s for s in specs if s.branch == "sh" and not s.in_pool and not s.parent]
    for s in shanghai[:REP_CUSTOMERS]:
        s.for_rep = True
    return specs


# --- applying ---------------------------------------------------------------------------------


def _branch_people(units: dict[str, Any]) -> dict[str, dict[str, list[Any]]]:
    """For each demo branch code: its sales reps and managers (with their branch head)."""
    from steelyard.org.models import User

    out: dict[str, dict[str, list[Any]]] = {}
    for code, branch in units.items():
        people = list(
            User.objects.filter(org_unit__path__startswith=branch.path, is_active=True, is_machine=False)
            .prefetch_related("roles")
            .select_related("org_unit")
            .order_by("username")
        )
        reps = [u for u in people if any(r.code == "sales_rep" for r in u.roles.all())]
        managers = [u for u in people if any(r.code == "sales_manager" for r in u.roles.all())]
        heads = [branch.manager] if branch.manager_id else []
        out[code] = {"reps": reps, "managers": managers, "admins": heads + managers}
    return out


def _pools(
    ctx: DemoContext, units: dict[str, Any], people: dict[str, dict[str, list[Any]]]
) -> dict[str, Any]:
    from steelyard.customers.models import Pool, PoolRule, VisitFrequencyDefault

    pools = {}
    for code, branch in units.items():
        pool = Pool.objects.filter(org_unit=branch).order_by("pk").first()
        if pool is None:
            pool = Pool.objects.create(name=f"{branch.name}公海", org_unit=branch)
            pool.members.set(people[code]["reps"] + people[code]["managers"])
            pool.admins.set(people[code]["admins"])
            ctx.count("customers.pool")
        for trigger, tier, days in POOL_RULES:
            _rule, created = PoolRule.objects.get_or_create(
                pool=pool, trigger=trigger, tier=tier, defaults={"days": days}
            )
            ctx.count("customers.pool_rule", int(created))
        pools[code] = pool
    for tier, days in VISIT_FREQUENCY:
        _v, created = VisitFrequencyDefault.objects.get_or_create(tier=tier, defaults={"days": days})
        ctx.count("customers.visit_frequency", int(created))
    return pools


def _territories(
    ctx: DemoContext, units: dict[str, Any], people: dict[str, dict[str, list[Any]]], pools: dict[str, Any]
) -> None:
    from steelyard.customers.models import Territory

    for code, branch in units.items():
        if code not in BRANCH_REGIONS or Territory.objects.filter(code=f"demo-{code}").exists():
            continue
        team = branch.children.order_by("code").first()
        territory = Territory.objects.create(
            name=f"{branch.name}辖区",
            code=f"demo-{code}",
            owner=branch.manager,
            org_unit=team,
            provinces=[BRANCH_REGIONS[code][0]],
            strategy=Territory.Strategy.ROUND_ROBIN,
            priority=100,
            pool=pools.get(code),
        )
        territory.members.set(people[code]["reps"])
        ctx.count("customers.territory")


def _history(
    ctx: DemoContext, rng: Random, customer: Any, owner: Any, now: dt.datetime, for_rep: bool
) -> tuple[list[Any], dict[str, Any]]:
    """Past activities of one customer and the clock fields they imply (owner-held customers only)."""
    from steelyard.customers.models import Activity

    owned_days = rng.randint(30, 330)
    owned_since = now - dt.timedelta(days=owned_days, hours=rng.randint(0, 23))
    roll = rng.random()
    if for_rep and roll < 0.25:  # due within a week: the rep's my-day page shows them
        last_visit = now - dt.timedelta(days=rng.randint(54, 58))
    elif roll < 0.75:
        last_visit = now - dt.timedelta(days=rng.randint(1, 45))
    else:
        last_visit = now - dt.timedelta(days=rng.randint(40, 57))
    last_followup = max(last_visit, now - dt.timedelta(days=rng.randint(0, 24)))
    start = now - dt.timedelta(days=730)
    acts = []

    def add(kind: str, at: dt.datetime) -> None:
        subject = {
            "visit": "拜访：设备需求沟通",
            "call": "电话跟进",
            "meeting": "技术交流会",
            "email": "邮件：发送报价与技术参数",
        }[kind]
        acts.append(
            Activity(
                customer=customer,
                kind=kind,
                status="done",
                subject=subject,
                occurred_at=at,
                outcome="客户关注交期和售后服务，约定下次拜访。",
                owner=owner,
                org_unit=owner.org_unit,
                planned_at=at,
            )
        )

    for _i in range(rng.randint(4, 16)):
        at = start + dt.timedelta(seconds=rng.randrange(int((last_visit - start).total_seconds())))
        add(rng.choice(("visit", "call", "call", "meeting", "email")), at)
    add("visit", last_visit)
    if last_followup > last_visit:
        add("call", last_followup)
    fields = {"owned_since": owned_since, "last_visit_at": last_visit, "last_followup_at": last_followup}
    return acts, fields


@seeder("customers", after=("org",))
def seed_customers(ctx: DemoContext) -> None:
    """Pools, rules, territories, ~300 customers with contacts, two years of activities, pool clocks."""
    from steelyard.customers.models import Activity, Customer, Tag
    from steelyard.customers.services.customers import customer_create
    from steelyard.customers.services.pool import customer_clock_recompute
    from steelyard.org.models import OrgUnit

    if "rep" not in ctx.logins:
        return
    rep = ctx.login("rep")
    codes = [*BRANCH_REGIONS, *OVERSEAS]
    units = {
        u.code[3:]: u
        for u in OrgUnit.objects.filter(code__in=[f"hy-{c}" for c in codes]).select_related("manager")
    }
    if not units:
        return
    rng = ctx.rng
    now = timezone.now()
    specs = plan_demo_customers(ctx.seed)
    with transaction.atomic():
        people = _branch_people(units)
        pools = _pools(ctx, units, people)
        _territories(ctx, units, people, pools)
        existing_codes = set(Customer.objects.exclude(credit_code="").values_list("credit_code", flat=True))
        existing_names = set(Customer.objects.filter(credit_code="").values_list("name_key", flat=True))
        by_key = {
            c.credit_code or c.name_key: c
            for c in Customer.objects.filter(
                credit_code__in=[s.credit_code for s in specs if s.parent == "" and s.credit_code]
            )
        }
        tags = {t.name: t for t in Tag.objects.all()}
        activities: list[Any] = []
        created: list[tuple[Any, CustomerSpec]] = []
        for spec in specs:
            if spec.key in existing_codes or spec.key in existing_names:
                continue
            reps = people.get(spec.branch, {}).get("reps") or [rep]
            owner = (
                None
                if spec.in_pool
                else (rep if spec.for_rep else rng.choice([r for r in reps if r != rep] or reps))
            )
            for name in spec.tags:
                if name not in tags:
                    tags[name], _c = Tag.objects.get_or_create(name=name)
            customer = customer_create(
                actor=None,
                owner=owner,
                assign=False,
                allow_duplicate=True,
                contacts=spec.contacts,
                tags=[tags[t] for t in spec.tags],
                legal_name=spec.legal_name,
                short_name=spec.short_name,
                credit_code=spec.credit_code,
                industry=spec.industry,
                province=spec.province,
                city=spec.city,
                address=spec.address,
                size=spec.size,
                status=spec.status,
                source=spec.source,
                is_key_account=spec.is_key_account,
                parent=by_key.get(spec.parent) if spec.parent else None,
                org_unit=units[spec.branch] if owner is None else None,
            )
            by_key[spec.key] = customer
            ctx.count("customers.customer")
            ctx.count("customers.contact", len(spec.contacts))
            created.append((customer, spec))
        for customer, spec in created:
            created_at = now - dt.timedelta(days=rng.randint(340, 900))
            if customer.owner_id is None:
                # A pool customer: an earlier owner visited it, then let it go.
                reps = people.get(spec.branch, {}).get("reps") or [rep]
                previous = rng.choice(reps)
                released = now - dt.timedelta(days=rng.randint(5, 200))
                acts, _fields = _history(ctx, rng, customer, previous, released, False)
                fields: dict[str, Any] = {
                    "previous_owner_id": previous.pk,
                    "released_at": released,
                    "last_visit_at": _fields["last_visit_at"],
                    "last_followup_at": _fields["last_followup_at"],
                }
            else:
                acts, fields = _history(ctx, rng, customer, customer.owner, now, spec.for_rep)
            fields["created_at"] = created_at
            activities.extend(acts)
            Customer.objects.filter(pk=customer.pk).update(**fields)
            for name, value in fields.items():
                setattr(customer, name, value)
            customer_clock_recompute(customer, now=now)
        Activity.objects.bulk_create(activities, batch_size=500)
        ctx.count("customers.activity", len(activities))
        if created:
            _plan_rep_visits(ctx, rep, now)


def _plan_rep_visits(ctx: DemoContext, rep: Any, now: dt.datetime) -> None:
    """Planned visits for the ``rep`` login: two today, one tomorrow, one overdue since yesterday."""
    from steelyard.customers.models import Activity, Customer

    mine = list(Customer.objects.filter(owner=rep).order_by("recycle_at", "pk")[:4])
    today = timezone.localtime(now).replace(hour=10, minute=0, second=0, microsecond=0)
    when = [today, today + dt.timedelta(hours=4), today + dt.timedelta(days=1), today - dt.timedelta(days=1)]
    rows = [
        Activity(
            customer=c,
            kind="visit",
            status="planned",
            subject="拜访：新项目设备选型",
            purpose="了解新开工项目的塔机需求",
            planned_at=at,
            owner=rep,
            org_unit=rep.org_unit,
        )
        for c, at in zip(mine, when, strict=False)
    ]
    Activity.objects.bulk_create(rows)
    ctx.count("customers.activity", len(rows))
