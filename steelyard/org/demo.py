"""The organisation of the demo manufacturer, 衡远重工集团 (Hengyuan Heavy Industries Group).

A construction-machinery group selling tower cranes, truck cranes, excavators, concrete and piling
machinery through five sales regions and eleven branches, with group departments for marketing,
solutions, finance, production planning, IT and a customer-service center with regional stations.

The demo is first *planned* (:func:`plan_demo_org`, pure: the same seed gives the same people) and
then *applied* through the org services, skipping every unit, user, qualification and assignment
that already exists — so ``seed_demo`` can run any number of times.

Well-known logins (all with the demo password, ``steelyard-demo`` by default) are listed in
:data:`DEMO_LOGINS`. Product lines do not exist as records yet: :data:`PRODUCT_LINES` names them and
they appear in team names and product-manager positions; the catalog module's seeder should create
its product lines from this list (``@seeder("catalog", after=("org",))``).

At the benchmark scales the ``org.scale`` seeder adds regions, branches, teams and users with
``bulk_create`` (see :func:`seed_org_scale`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from random import Random

from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.utils import timezone
from pypinyin import lazy_pinyin

from steelyard.core.demo import DemoContext, seeder
from steelyard.org import roles as R
from steelyard.org.models import (
    OrgUnit,
    Position,
    PositionAssignment,
    Qualification,
    Role,
    User,
    UserQualification,
)

GROUP_CODE = "hy"
EMAIL_DOMAIN = "hengyuan.example.com"
MACHINE_USERNAME = "erp-bot"
INTEGRATION_USERNAMES = [("mes-bot", "MES 集成机器人"), ("aps-bot", "APS 集成机器人")]

# code, Chinese name, English name, short name used in team names
PRODUCT_LINES: list[tuple[str, str, str, str]] = [
    ("tower-crane", "塔式起重机", "Tower cranes", "塔机"),
    ("truck-crane", "汽车起重机", "Truck cranes", "汽车起重机"),
    ("excavator", "挖掘机", "Excavators", "挖掘机"),
    ("concrete", "混凝土机械", "Concrete machinery", "混凝土机械"),
    ("piling", "桩工机械", "Piling machinery", "桩工机械"),
]

# The well-known demo accounts: username → what they are. Printed by ``seed_demo``.
DEMO_LOGINS: dict[str, str] = {
    "admin": "administrator, head of IT",
    "exec": "executive, group president",
    "director": "sales director, East China region",
    "manager": "sales manager, Shanghai tower-crane sales team 1",
    "rep": "sales rep in the manager's team",
    "finance": "finance manager",
    "planner": "production planning manager",
    "service": "head of the customer-service center (service manager)",
    "tech": "service technician, East China service station",
    "marketing": "head of marketing",
}

# code, name, validity in months (None: never expires), description
QUALIFICATIONS: list[tuple[str, str, int | None, str]] = [
    ("sales-compliance", "销售合规与反商业贿赂培训", 12, "年度必修：招投标合规、反商业贿赂、合同审批规范。"),
    ("export-compliance", "出口管制合规培训", 12, "海外业务必修：出口管制、制裁名单筛查、信用证风险。"),
    ("solution-engineer", "解决方案工程师认证", 36, "能独立完成工况分析、选型配置和施工方案。"),
    ("pmp", "项目管理专业人士（PMP）", 36, "大型设备交付项目的计划、风险与验收管理。"),
    (
        "special-equipment-op",
        "特种设备作业人员证（起重机械）",
        48,
        "市场监管部门颁发，起重机械安装、维修作业必需。",
    ),
    ("work-at-height", "高处作业证", 72, "应急管理部门颁发的特种作业操作证（登高架设）。"),
    ("electrician", "低压电工作业证", 72, "电气系统检修、PLC 与变频器故障处理。"),
]

# code, name, category, duties, required qualification codes
POSITIONS: list[tuple[str, str, str, str, tuple[str, ...]]] = [
    ("group-executive", "集团高管", "management", "制定经营目标，审批重大合同与资源投入。", ()),
    ("it-admin", "系统管理员", "support", "维护用户、角色、权限与系统配置，保障数据安全。", ()),
    ("department-head", "部门负责人", "management", "带领部门完成年度目标，审批部门内事项。", ()),
    ("regional-director", "区域销售总监", "management", "负责大区销售目标、渠道布局与重点客户。", ()),
    ("branch-gm", "分公司总经理", "management", "负责分公司经营、团队建设与回款。", ()),
    (
        "sales-manager",
        "销售经理",
        "management",
        "带领销售小组：分配客户、评审商机、审批折扣。",
        ("sales-compliance",),
    ),
    (
        "sales-account-manager",
        "销售客户经理",
        "sales",
        "开发与维护终端客户和租赁商，推进商机，签订合同并跟踪回款。",
        ("sales-compliance",),
    ),
    (
        "overseas-account-manager",
        "海外客户经理",
        "sales",
        "开拓海外经销商与项目客户，处理信用证与出口单证。",
        ("sales-compliance", "export-compliance"),
    ),
    (
        "solution-engineer",
        "解决方案工程师",
        "solution",
        "现场工况勘察、设备选型与配置、编制施工方案和技术协议。",
        ("solution-engineer",),
    ),
    ("delivery-manager", "交付经理", "delivery", "统筹排产、发运、安装调试与验收，按期交付。", ("pmp",)),
    ("service-station-manager", "服务站站长", "service", "管理服务站人员、备件与服务质量。", ()),
    ("service-dispatcher", "服务调度员", "service", "受理报修，派工给服务工程师并跟踪 SLA。", ()),
    (
        "service-engineer",
        "服务工程师",
        "service",
        "设备安装调试、定期保养、故障维修与操作培训。",
        ("special-equipment-op", "work-at-height"),
    ),
    ("marketing-specialist", "市场专员", "marketing", "展会与品牌活动、市场情报收集、线索培育。", ()),
    ("credit-analyst", "信用管理专员", "support", "客户授信评估、应收账款账龄与催收跟进。", ()),
    ("finance-manager", "财务经理", "management", "资金、信用政策与风险控制。", ()),
    ("production-planner", "生产计划员", "support", "根据滚动需求预测编制主生产计划，发布产能。", ()),
    *[
        (f"pm-{code}", f"{zh}产品经理", "marketing", f"{zh}产品线的市场规划、定价与竞品分析。", ())
        for code, zh, _en, _short in PRODUCT_LINES
    ],
]

# code, name, director title
REGIONS: list[tuple[str, str]] = [
    ("east", "华东大区"),
    ("north", "华北大区"),
    ("south", "华南大区"),
    ("southwest", "西南大区"),
    ("intl", "海外事业部 International"),
]
# region code, branch code, name
BRANCHES: list[tuple[str, str, str]] = [
    ("east", "sh", "上海分公司"),
    ("east", "hz", "杭州分公司"),
    ("east", "nj", "南京分公司"),
    ("north", "bj", "北京分公司"),
    ("north", "jn", "济南分公司"),
    ("south", "gz", "广州分公司"),
    ("south", "sz", "深圳分公司"),
    ("southwest", "cd", "成都分公司"),
    ("southwest", "cq", "重庆分公司"),
    ("intl", "sea", "东南亚分公司（雅加达）"),
    ("intl", "me", "中东分公司（迪拜）"),
]
# branch code, team code suffix, name
SALES_TEAMS: list[tuple[str, str, str]] = [
    ("sh", "tower-1", "塔机销售一组"),
    ("sh", "tower-2", "塔机销售二组"),
    ("sh", "excavator", "挖掘机销售组"),
    ("hz", "concrete", "混凝土机械销售组"),
    ("nj", "truck-crane", "汽车起重机销售组"),
    ("bj", "tower", "塔机销售组"),
    ("bj", "piling", "桩工机械销售组"),
    ("jn", "excavator", "挖掘机销售组"),
    ("gz", "truck-crane", "汽车起重机销售组"),
    ("sz", "tower", "塔机销售组"),
    ("cd", "excavator", "挖掘机销售组"),
    ("cq", "concrete", "混凝土机械销售组"),
    ("sea", "excavator", "挖掘机销售组 Excavator Sales"),
    ("me", "crane", "起重机销售组 Crane Sales"),
]
# code suffix, name, number of dispatchers, number of technicians
SERVICE_STATIONS: list[tuple[str, str, int, int]] = [
    ("east", "华东服务站", 1, 3),
    ("north", "华北服务站", 1, 2),
    ("south", "华南服务站", 0, 2),
    ("southwest", "西南服务站", 0, 2),
    ("intl", "海外服务站 Overseas Service", 0, 2),
]

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭萧田董潘袁蔡蒋余于杜叶程魏苏吕丁任卢"
    "姚沈钟姜崔谭陆范汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛郝顾龚邵万武钱戴严莫孔向常汤康易乔赖文"
)
GIVEN_NAMES = (
    "伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 秀英 霞 平 刚 桂英 华 鹏 飞 宇 浩 凯 鑫 婷 雪 琳 晨 辉 斌 波 宁 丹 蕾"
    " 倩 博 建国 志强 海燕 晓东 建华 国栋 子涵 思远 一鸣 嘉怡 欣怡 雨轩 俊杰 志明 立新 红梅 春生 振华 晓燕 德明 永刚 伟民"
    " 海涛 文静 泽宇 晓峰 丽华 国强 建军 秀兰 玉兰 振宇 佳琪 梓萱 浩然 天宇 子豪"
).split()


@dataclass
class UnitSpec:
    code: str
    name: str
    kind: str
    parent: str | None
    manager: str | None = None  # key of the person who manages it


@dataclass
class PersonSpec:
    key: str
    username: str
    display_name: str
    roles: tuple[str, ...]
    unit: str
    manager: str | None
    title: str
    position: str
    language: str = "zh-hans"
    phone: str = ""
    email: str = ""
    is_machine: bool = False


@dataclass
class OrgPlan:
    units: list[UnitSpec] = field(default_factory=list)
    people: list[PersonSpec] = field(default_factory=list)

    def person(self, key: str) -> PersonSpec:
        return next(p for p in self.people if p.key == key)


def ascii_username(display_name: str) -> str:
    """The pinyin of a Chinese name as a lower-case ASCII username: 王晓东 → wangxiaodong."""
    return re.sub(r"[^a-z]", "", "".join(lazy_pinyin(display_name)).lower())


class NameBook:
    """Deterministic Chinese names with unique pinyin usernames (wangwei, wangwei2, ...)."""

    def __init__(self, rng: Random, reserved: set[str] | None = None) -> None:
        self.rng = rng
        self.taken: set[str] = set(reserved or ())
        self.names: set[str] = set()

    def name(self) -> str:
        for _ in range(50):
            name = self.rng.choice(SURNAMES) + self.rng.choice(GIVEN_NAMES)
            if name not in self.names:
                break
        self.names.add(name)
        return name

    def username(self, display_name: str) -> str:
        base = ascii_username(display_name) or "user"
        candidate, n = base, 1
        while candidate in self.taken:
            n += 1
            candidate = f"{base}{n}"
        self.taken.add(candidate)
        return candidate

    def claim(self, username: str) -> str:
        self.taken.add(username)
        return username


def _phone(rng: Random, overseas: bool) -> str:
    if overseas:
        return (
            rng.choice(["+62 811 ", "+971 50 "]) + f"{rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)}"
        )
    return "1" + rng.choice("3589") + f"{rng.randrange(0, 10**9):09d}"


def plan_demo_org(seed: int) -> OrgPlan:
    """The whole demo organisation for ``seed``, without touching the database."""
    rng = Random(f"{seed}:org.plan")
    book = NameBook(rng, reserved={*DEMO_LOGINS, MACHINE_USERNAME, *(u for u, _n in INTEGRATION_USERNAMES)})
    plan = OrgPlan()

    def unit(code: str, name: str, kind: str, parent: str | None) -> str:
        plan.units.append(UnitSpec(code=code, name=name, kind=kind, parent=parent))
        return code

    def person(
        key: str,
        unit_code: str,
        role: str,
        title: str,
        position: str,
        manager: str | None,
        *,
        login: str | None = None,
        manages: str | None = None,
        overseas: bool = False,
    ) -> str:
        display = book.name()
        username = book.claim(login) if login else book.username(display)
        language = "en" if overseas or rng.random() < 0.05 else "zh-hans"
        plan.people.append(
            PersonSpec(
                key=key,
                username=username,
                display_name=display,
                roles=(role,),
                unit=unit_code,
                manager=manager,
                title=title,
                position=position,
                language=language,
                phone=_phone(rng, overseas),
                email=f"{username}@{EMAIL_DOMAIN}",
            )
        )
        if manages:
            next(u for u in plan.units if u.code == manages).manager = key
        return key

    g = unit(GROUP_CODE, "衡远重工集团", "group", None)
    ceo = person("ceo", g, R.EXECUTIVE, "集团总裁", "group-executive", None, login="exec", manages=g)
    vp_sales = person("vp-sales", g, R.EXECUTIVE, "销售副总裁", "group-executive", ceo)
    coo = person("coo", g, R.EXECUTIVE, "运营副总裁", "group-executive", ceo)

    it = unit("hy-it", "信息中心", "department", g)
    it_head = person(
        "admin", it, R.ADMINISTRATOR, "信息中心主任", "department-head", coo, login="admin", manages=it
    )
    person("it-admin", it, R.ADMINISTRATOR, "系统管理员", "it-admin", it_head)

    mkt = unit("hy-marketing", "市场部", "department", g)
    mkt_head = person(
        "marketing-head",
        mkt,
        R.MARKETING,
        "市场部经理",
        "department-head",
        vp_sales,
        login="marketing",
        manages=mkt,
    )
    for code, zh, _en, _short in PRODUCT_LINES:
        person(f"pm-{code}", mkt, R.MARKETING, f"{zh}产品经理", f"pm-{code}", mkt_head)
    person("marketing-specialist", mkt, R.MARKETING, "市场专员", "marketing-specialist", mkt_head)

    sol = unit("hy-solutions", "解决方案中心", "department", g)
    sol_head = person(
        "solutions-head",
        sol,
        R.SOLUTION_ENGINEER,
        "解决方案中心主任",
        "department-head",
        vp_sales,
        manages=sol,
    )
    for i in range(4):
        person(f"solution-{i + 1}", sol, R.SOLUTION_ENGINEER, "解决方案工程师", "solution-engineer", sol_head)
    for i in range(2):
        person(f"delivery-{i + 1}", sol, R.SOLUTION_ENGINEER, "交付经理", "delivery-manager", sol_head)

    fin = unit("hy-finance", "财务部", "department", g)
    fin_head = person(
        "finance-head", fin, R.FINANCE, "财务经理", "finance-manager", coo, login="finance", manages=fin
    )
    for i in range(2):
        person(f"credit-{i + 1}", fin, R.FINANCE, "信用管理专员", "credit-analyst", fin_head)

    pln = unit("hy-planning", "生产计划部", "department", g)
    pln_head = person(
        "planning-head",
        pln,
        R.PRODUCTION_PLANNER,
        "计划经理",
        "department-head",
        coo,
        login="planner",
        manages=pln,
    )
    person("planner-1", pln, R.PRODUCTION_PLANNER, "生产计划员", "production-planner", pln_head)

    svc = unit("hy-service", "客户服务中心", "department", g)
    svc_head = person(
        "service-head",
        svc,
        R.SERVICE_MANAGER,
        "客户服务中心总监",
        "department-head",
        coo,
        login="service",
        manages=svc,
    )
    for suffix, name, dispatchers, technicians in SERVICE_STATIONS:
        overseas = suffix == "intl"
        st = unit(f"hy-svc-{suffix}", name, "team", svc)
        st_mgr = person(
            f"station-{suffix}",
            st,
            R.SERVICE_MANAGER,
            "服务站站长",
            "service-station-manager",
            svc_head,
            manages=st,
            overseas=overseas,
        )
        for i in range(dispatchers):
            person(
                f"dispatch-{suffix}-{i + 1}",
                st,
                R.SERVICE_DISPATCHER,
                "服务调度员",
                "service-dispatcher",
                st_mgr,
            )
        for i in range(technicians):
            login = "tech" if suffix == "east" and i == 0 else None
            person(
                f"tech-{suffix}-{i + 1}",
                st,
                R.TECHNICIAN,
                "服务工程师",
                "service-engineer",
                st_mgr,
                login=login,
                overseas=overseas,
            )

    for rcode, rname in REGIONS:
        overseas = rcode == "intl"
        r = unit(f"hy-{rcode}", rname, "region", g)
        person(
            f"director-{rcode}",
            r,
            R.SALES_DIRECTOR,
            "区域销售总监",
            "regional-director",
            vp_sales,
            login="director" if rcode == "east" else None,
            manages=r,
            overseas=overseas,
        )
    for rcode, bcode, bname in BRANCHES:
        overseas = rcode == "intl"
        b = unit(f"hy-{bcode}", bname, "branch", f"hy-{rcode}")
        person(
            f"gm-{bcode}",
            b,
            R.SALES_DIRECTOR,
            "分公司总经理",
            "branch-gm",
            f"director-{rcode}",
            manages=b,
            overseas=overseas,
        )
    for bcode, tsuffix, tname in SALES_TEAMS:
        overseas = bcode in ("sea", "me")
        t = unit(f"hy-{bcode}-{tsuffix}", tname, "team", f"hy-{bcode}")
        first = bcode == "sh" and tsuffix == "tower-1"
        mgr = person(
            f"manager-{bcode}-{tsuffix}",
            t,
            R.SALES_MANAGER,
            "销售经理",
            "sales-manager",
            f"gm-{bcode}",
            login="manager" if first else None,
            manages=t,
            overseas=overseas,
        )
        for i in range(3 if first else rng.choice((2, 2, 3))):
            person(
                f"rep-{bcode}-{tsuffix}-{i + 1}",
                t,
                R.SALES_REP,
                "销售客户经理",
                "overseas-account-manager" if overseas else "sales-account-manager",
                mgr,
                login="rep" if first and i == 0 else None,
                overseas=overseas,
            )

    plan.people.append(
        PersonSpec(
            key="erp-bot",
            username=MACHINE_USERNAME,
            display_name="ERP 集成机器人 (SAP S/4HANA)",
            roles=(R.INTEGRATION,),
            unit=it,
            manager=None,
            title="集成账户",
            position="",
            language="en",
            email=f"{MACHINE_USERNAME}@{EMAIL_DOMAIN}",
            is_machine=True,
        )
    )
    # The shop-floor and planning systems' machine users (integrations.demo links them to their systems).
    for username, display_name in INTEGRATION_USERNAMES:
        plan.people.append(
            PersonSpec(
                key=username,
                username=username,
                display_name=display_name,
                roles=(R.INTEGRATION,),
                unit=it,
                manager=None,
                title="集成账户",
                position="",
                language="en",
                email=f"{username}@{EMAIL_DOMAIN}",
                is_machine=True,
            )
        )
    return plan


# --- applying the plan ---------------------------------------------------------------------


def ensure_roles() -> dict[str, Role]:
    """The seeded roles by code (created when a database was built without the data migration)."""
    for code, name, scope, machine, desc in R.SEEDED_ROLES:
        Role.objects.get_or_create(
            code=code,
            defaults={"name": name, "data_scope": scope, "is_machine": machine, "description": desc},
        )
    return {r.code: r for r in Role.objects.all()}


def _seed_catalogue(ctx: DemoContext) -> tuple[dict[str, Qualification], dict[str, Position]]:
    from steelyard.org.services import position_save, qualification_save

    quals = {q.code: q for q in Qualification.objects.filter(code__in=[q[0] for q in QUALIFICATIONS])}
    for code, name, months, desc in QUALIFICATIONS:
        if code not in quals:
            quals[code] = qualification_save(
                actor=None, code=code, name=name, validity_months=months, description=desc
            )
            ctx.count("org.qualification")
    positions = {p.code: p for p in Position.objects.filter(code__in=[p[0] for p in POSITIONS])}
    for code, name, category, duties, required in POSITIONS:
        if code not in positions:
            positions[code] = position_save(
                actor=None,
                code=code,
                name=name,
                category=category,
                duties=duties,
                required_qualifications=[quals[c] for c in required],
            )
            ctx.count("org.position")
    return quals, positions


@seeder("org")
def seed_org(ctx: DemoContext) -> None:
    """The demo organisation, people, positions and qualifications, through the org services."""
    from steelyard.org.services import (
        org_unit_create,
        org_unit_update,
        position_assign,
        user_create,
        user_qualification_grant,
    )

    plan = plan_demo_org(ctx.seed)
    ctx.shared["org.plan"] = plan
    rng = ctx.rng
    today = timezone.localdate()
    with transaction.atomic():
        roles = ensure_roles()
        quals, positions = _seed_catalogue(ctx)

        units = {u.code: u for u in OrgUnit.objects.filter(code__in=[s.code for s in plan.units])}
        for spec in plan.units:
            if spec.code not in units:
                units[spec.code] = org_unit_create(
                    actor=None,
                    name=spec.name,
                    code=spec.code,
                    kind=spec.kind,
                    parent=units[spec.parent] if spec.parent else None,
                )
                ctx.count("org.unit")

        users: dict[str, User] = {}
        existing = {
            u.username: u for u in User.objects.filter(username__in=[p.username for p in plan.people])
        }
        for p in plan.people:
            user = existing.get(p.username)
            if user is None:
                user = user_create(
                    actor=None,
                    username=p.username,
                    display_name=p.display_name,
                    email=p.email,
                    phone=p.phone,
                    title=p.title,
                    org_unit=units[p.unit],
                    manager=users[p.manager] if p.manager else None,
                    roles=[roles[c] for c in p.roles],
                    language=p.language,
                    is_machine=p.is_machine,
                )
                if not p.is_machine:
                    # All demo users share one password: hash it once (see DemoContext.password_hash).
                    User.objects.filter(pk=user.pk).update(password=ctx.password_hash)
                ctx.count("org.user")
            users[p.key] = user
            ctx.add_user(user, p.roles)
            if p.username in DEMO_LOGINS:
                ctx.logins[p.username] = user

        for spec in plan.units:
            unit = units[spec.code]
            manager = users[spec.manager] if spec.manager else None
            if manager is not None and unit.manager_id != manager.pk:
                org_unit_update(actor=None, unit=unit, manager=manager)

        # Qualifications: everyone holds what their position requires; a few expire within 30 days
        # and one service engineer's has already expired (so the expiry warnings have something to show).
        grants = [
            (p, code) for p in plan.people if p.position for code in _required(p.position) if code in quals
        ]
        expiring = set(rng.sample(range(len(grants)), k=min(5, len(grants))))
        technicians = [
            i for i, (p, c) in enumerate(grants) if p.key.startswith("tech-") and p.username != "tech"
        ]
        expired = rng.choice(technicians) if technicians else -1
        expiring.discard(expired)
        held = set(
            UserQualification.objects.filter(user__in=users.values()).values_list(
                "user_id", "qualification__code"
            )
        )
        for i, (p, code) in enumerate(grants):
            user, qual = users[p.key], quals[code]
            if (user.pk, code) in held:
                continue
            months = qual.validity_months or 60
            if i == expired:
                expires = today - dt.timedelta(days=rng.randint(5, 20))
            elif i in expiring:
                expires = today + dt.timedelta(days=rng.randint(3, 28))
            else:
                expires = today + dt.timedelta(days=rng.randint(60, months * 30 - 30))
            user_qualification_grant(
                actor=None,
                user=user,
                qualification=qual,
                obtained_on=expires - relativedelta(months=months),
                expires_on=expires,
                certificate_no=f"HY-{code[:3].upper()}-{rng.randrange(10**6, 10**7)}",
            )
            ctx.count("org.user_qualification")

        assigned = set(
            PositionAssignment.objects.filter(user__in=users.values()).values_list(
                "user_id", "position__code"
            )
        )
        expired_key = grants[expired][0].key if expired >= 0 else None
        for p in plan.people:
            if not p.position or (users[p.key].pk, p.position) in assigned:
                continue
            position_assign(
                actor=None,
                user=users[p.key],
                position=positions[p.position],
                since=today - dt.timedelta(days=rng.randint(90, 3000)),
                require_qualified=p.key != expired_key,
            )
            ctx.count("org.position_assignment")


def _required(position_code: str) -> tuple[str, ...]:
    return next((p[4] for p in POSITIONS if p[0] == position_code), ())


# --- benchmark scales ------------------------------------------------------------------------

# extra regions, extra branches, extra teams, total users
SCALE_SIZES: dict[str, tuple[int, int, int, int]] = {"M": (1, 9, 41, 200), "L": (3, 29, 131, 500)}
EXTRA_REGIONS = [("northeast", "东北大区"), ("central", "华中大区"), ("northwest", "西北大区")]
EXTRA_CITIES = (
    "沈阳 大连 长春 哈尔滨 武汉 长沙 郑州 西安 兰州 乌鲁木齐 南昌 合肥 福州 厦门 南宁 昆明 贵阳 太原 石家庄 天津"
    " 青岛 苏州 宁波 无锡 温州 东莞 佛山 海口 银川 呼和浩特 西宁 拉萨 徐州 洛阳"
).split()


def _bulk_units(specs: list[UnitSpec], known: dict[str, OrgUnit]) -> int:
    """Insert units of one tree level that are not in ``known``, then give them their paths.

    The path embeds the primary key, so rows go in with a placeholder path and get the real one
    in a second bulk update — the same two steps ``OrgUnit.save`` takes, for a whole level at once.
    """
    new = [
        OrgUnit(code=s.code, name=s.name, kind=s.kind, parent=known[s.parent] if s.parent else None)
        for s in specs
        if s.code not in known
    ]
    for u in new:
        u.path = f"tmp-{u.code}"
    OrgUnit.objects.bulk_create(new, batch_size=500)
    created = {u.code: u for u in OrgUnit.objects.filter(code__in=[u.code for u in new])}
    for u in created.values():
        parent = known[next(s.parent for s in specs if s.code == u.code)]
        u.path = f"{parent.path}{u.pk:04d}."
        u.depth = parent.depth + 1
    OrgUnit.objects.bulk_update(list(created.values()), ["path", "depth"], batch_size=500)
    known.update(created)
    return len(new)


@seeder("org.scale", after=("org",))
def seed_org_scale(ctx: DemoContext) -> None:
    """At scale M/L: more regions, branches and teams, and users up to the target head count.

    Written with ``bulk_create`` rather than the services: hundreds of users through
    ``user_create`` (validation, role sets, two audit rows each) would dominate the build time, and
    these rows exist only to give the benchmarks realistic volumes.
    """
    if ctx.scale not in SCALE_SIZES:
        return
    n_regions, n_branches, n_teams, n_users = SCALE_SIZES[ctx.scale]
    plan: OrgPlan = ctx.shared.get("org.plan") or plan_demo_org(ctx.seed)
    rng = ctx.rng
    book = NameBook(rng, reserved={p.username for p in plan.people} | set(DEMO_LOGINS))

    regions = [(f"hy-x-{c}", n) for c, n in EXTRA_REGIONS[:n_regions]]
    all_regions = [f"hy-{c}" for c, _n in REGIONS if c != "intl"] + [c for c, _n in regions]
    branches = [
        (
            f"hy-x-b{i + 1:02d}",
            f"{EXTRA_CITIES[i % len(EXTRA_CITIES)]}分公司",
            all_regions[i % len(all_regions)],
        )
        for i in range(n_branches)
    ]
    teams = []
    for i in range(n_teams):
        bcode, bname, _r = branches[i % len(branches)]
        line = PRODUCT_LINES[(i // len(branches)) % len(PRODUCT_LINES)]
        teams.append((f"{bcode}-t{i + 1:03d}", f"{bname[:-3]}{line[3]}销售{i // len(branches) + 1}组", bcode))

    with transaction.atomic():
        roles = ensure_roles()
        units = {u.code: u for u in OrgUnit.objects.filter(code__startswith=GROUP_CODE)}
        ctx.count("org.unit", _bulk_units([UnitSpec(c, n, "region", GROUP_CODE) for c, n in regions], units))
        ctx.count("org.unit", _bulk_units([UnitSpec(c, n, "branch", r) for c, n, r in branches], units))
        ctx.count("org.unit", _bulk_units([UnitSpec(c, n, "team", b) for c, n, b in teams], units))

        # Managers first, level by level, so each level's manager FK points at a saved row.
        levels: list[tuple[list[tuple[str, str, str, str]], str]] = [
            ([(c, R.SALES_DIRECTOR, "区域销售总监", "") for c, _n in regions], "vp-sales"),
            ([(c, R.SALES_DIRECTOR, "分公司总经理", r) for c, _n, r in branches], ""),
            ([(c, R.SALES_MANAGER, "销售经理", b) for c, _n, b in teams], ""),
        ]
        demo_users = {
            u.username: u for u in User.objects.filter(username__in=[p.username for p in plan.people])
        }
        by_key = {p.key: demo_users[p.username] for p in plan.people if p.username in demo_users}
        unit_head: dict[str, User] = {s.code: by_key[s.manager] for s in plan.units if s.manager in by_key}
        existing_usernames = set(User.objects.values_list("username", flat=True))
        total = len(existing_usernames)
        for level, default_boss in levels:
            rows = []
            for unit_code, role, title, parent_code in level:
                name = book.name()
                boss = unit_head.get(parent_code) or by_key.get(default_boss)
                rows.append((unit_code, book.username(name), name, role, title, boss))
            created = _bulk_users(ctx, [r for r in rows if r[1] not in existing_usernames], units, roles)
            total += len(created)
            level_users = {**{u.username: u for u in User.objects.filter(username__in=[r[1] for r in rows])}}
            changed = []
            for unit_code, username, *_rest in rows:
                unit_head[unit_code] = level_users[username]
                unit = units[unit_code]
                if unit.manager_id != level_users[username].pk:
                    unit.manager = level_users[username]
                    changed.append(unit)
            OrgUnit.objects.bulk_update(changed, ["manager"], batch_size=500)

        reps = []
        for i in range(max(0, n_users - total)):
            team_code = teams[i % len(teams)][0]
            name = book.name()
            reps.append(
                (team_code, book.username(name), name, R.SALES_REP, "销售客户经理", unit_head[team_code])
            )
        _bulk_users(ctx, [r for r in reps if r[1] not in existing_usernames], units, roles)


def _bulk_users(
    ctx: DemoContext,
    rows: list[tuple[str, str, str, str, str, User | None]],
    units: dict[str, OrgUnit],
    roles: dict[str, Role],
) -> dict[str, User]:
    if not rows:
        return {}
    # Details come from a generator per username, not the shared one: rows skipped as existing on a
    # re-run must not shift the random sequence of the rows after them.
    users = []
    for unit_code, username, name, _role, title, boss in rows:
        detail = Random(f"{ctx.seed}:{username}")
        users.append(
            User(
                username=username,
                display_name=name,
                email=f"{username}@{EMAIL_DOMAIN}",
                phone=_phone(detail, False),
                title=title,
                org_unit=units[unit_code],
                manager=boss,
                language="en" if detail.random() < 0.05 else "zh-hans",
                password=ctx.password_hash,
            )
        )
    User.objects.bulk_create(users, batch_size=500)
    created = {u.username: u for u in User.objects.filter(username__in=[r[1] for r in rows])}
    role_of = {r[1]: r[3] for r in rows}
    through = User.roles.through
    through.objects.bulk_create(
        [through(user_id=u.pk, role_id=roles[role_of[name]].pk) for name, u in created.items()],
        batch_size=1000,
    )
    for name, u in created.items():
        ctx.add_user(u, [role_of[name]])
    ctx.count("org.user", len(created))
    return created
