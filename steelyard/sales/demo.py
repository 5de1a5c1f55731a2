"""Two years of selling at 衡远重工: playbooks per product line, opportunities won and lost, quotes,
framework agreements, the forecast and its weekly snapshots.

What is made (runs after the catalogue, customers, orders and tiers)

- **Playbooks**: each of the four demo product lines gets its own active playbook, copied from the
  shipped default playbook (the standard stages, their probabilities, categories, exit criteria and
  checklist) with line-specific checklist items added (cranes: the site load survey; engines: the emission
  certification document; rail: the tender pre-qualification; marine: the classification society
  approval) and stall limits suited to the line's sales cycle. Cranes also keep a retired v1 (without the
  crane-specific items), which a few old open deals still run on: "a deal keeps the version it started on".
- **Won deals are the orders demo's contracts**: a share of the machine contracts the orders demo signed in
  the last two years becomes a won opportunity, closed on the signing day, whose solution lines are the
  order's lines and whose accepted quote points at that contract: nothing is duplicated. **Lost** deals
  (about 1.7 per won deal: a win rate near 37 %, dying mostly in the early stages, with the reason and
  the competitor that won) and **open** deals (expected to close over the next six to nine months, a few
  stalled, past their close date, single-threaded or under a competitor's threat) are generated around
  them on the reps' own customers — about 800 deals in all: catalogue machines,
  options and service contracts; competitors with strengths, weaknesses and threat; decision-makers from
  the customer's contacts; the virtual team (solution engineers and delivery managers of the solutions
  center); sources; checklist entries; quote revisions; and the stage history (``StageVisit``), each
  stage taking longer than the one before and each line at its own pace.
- **Framework agreements** for two key accounts, planned per quarter from what they actually ordered.
- Then the forecast cells are rebuilt, the risk flags refreshed, and a **weekly snapshot for each of the
  past** :data:`SNAPSHOT_WEEKS` **weeks** is reconstructed from the stage history (the forecast as it
  stood on that Monday morning), so forecast accuracy has something to measure.
- The demo ``rep`` gets open deals in every stage (one with an unfinished checklist, one stalled, one
  closing this month whose quote is over the credit limit) and a quote waiting for the ``manager``'s
  discount approval; the ``manager`` also has a stage-gate request from him in the approval inbox.
- A few deals went past a stage with a required task open (the next stay lists it in ``missing``; the
  manager's nod was not recorded then, so ``approval`` stays empty).

History is bulk-inserted (the services cannot back-date it, and it is seeding: no events, no audit rows);
today's story — the approvals and the agreements — goes through the services, at the demo scale only
(the benchmark scales keep the audit log at an exact size). Idempotent: playbooks by product line,
competitors by name, the whole history only when no demo customer has a deal yet, agreements by number,
snapshots by week, each story record when it is missing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import math
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from random import Random
from typing import Any

from django.db import transaction
from django.utils import timezone

from steelyard.core.demo import DemoContext, seeder

CENT = Decimal("0.01")
HUNDRED = Decimal("100")
WON, LOST = -1, -2  # stage indexes of the closing stages (open stages are 0, 1, ...)

#: The change reason of the history rows the demo writes.
DEMO_NOTE = "demo"
#: How long ago (days) the crane playbook v2 replaced v1.
CRANE_V2_DAYS_AGO = 150
#: Share of the orders demo's machine contracts (last two years) that went through a recorded opportunity.
WON_SHARE = 0.5
REP_WON_SHARE = 0.8  # the demo rep's customers: most of his contracts, so his own history is rich
#: Lost deals per customer: this many, plus this many per won deal.
LOST_BASE, LOST_PER_WON = 0.7, 1.05
#: Chance a customer (by status) has an open deal, and a second one.
OPEN_CHANCE = {"active": (0.6, 0.25), "prospect": (0.75, 0.15), "dormant": (0.12, 0.0), "lost": (0.05, 0.0)}
#: Where lost deals die: weight of open stage i is DEATH_DECAY ** i (most die early).
DEATH_DECAY = 0.72
#: Where open deals are now: weight of open stage i is OPEN_DECAY ** i.
OPEN_DECAY = 0.85
#: Typical days from creation to close by line; stage i takes a share growing with i.
CYCLE_DAYS = {"CRANE": 70, "ENGINE": 45, "RAIL": 180, "MARINE": 150}
#: Stall limits of a line's playbook: the default's × this factor.
STALL_FACTOR = {"CRANE": 1.0, "ENGINE": 0.7, "RAIL": 1.5, "MARINE": 1.5}
#: Weekly forecast snapshots reconstructed for the past weeks (enough for three complete close months).
SNAPSHOT_WEEKS = 13
#: Past snapshots are reconstructed from every deal's stays only up to this many deals.
SNAPSHOT_MAX_DEALS = 50_000

# --- playbooks --------------------------------------------------------------------------------------

#: (kind, field, label, English label, required), added to the default playbook's stage of that code.
LINE_ITEMS: dict[str, dict[str, list[tuple[str, str, str, str, bool]]]] = {
    "CRANE": {
        "needs": [("task", "", "现场工况与地基承载勘察", "Site load survey", True)],
        "proposal": [("task", "", "吊装方案评审", "Lifting plan review", False)],
        "negotiation": [("task", "", "交机与安装计划确认", "Delivery and installation plan agreed", True)],
    },
    "ENGINE": {
        "needs": [("task", "", "整机匹配参数确认", "Installation parameters confirmed with the OEM", True)],
        "proposal": [
            (
                "document",
                "",
                "排放认证文件（非道路国四）",
                "Emission certification document (China IV non-road)",
                True,
            )
        ],
        "quotation": [("task", "", "样机台架试验", "Prototype bench test", False)],
    },
    "RAIL": {
        "qualify": [("task", "", "招标资格预审", "Tender pre-qualification", True)],
        "quotation": [("document", "", "投标文件", "Tender documents", True)],
        "negotiation": [("task", "", "中标通知书已收到", "Notice of award received", True)],
    },
    "MARINE": {
        "needs": [("task", "", "船型与主机选型确认", "Vessel type and engine selection confirmed", True)],
        "proposal": [
            ("document", "", "船级社认可证书（CCS/DNV）", "Classification society approval (CCS/DNV)", True)
        ],
        "negotiation": [
            ("task", "", "船东、船厂三方技术协议", "Tripartite technical agreement (owner, yard)", True)
        ],
    },
}
LINE_DESCRIPTIONS = {
    "CRANE": "起重机（汽车、全地面、履带、塔式）的销售流程，在标准流程上增加现场工况勘察与交机安装计划。"
    "Cranes: the standard process plus the site load survey and the delivery and installation plan.",
    "ENGINE": "发动机与发电机组的配套销售流程，方案阶段须提供排放认证文件。"
    "Engines and generator sets: the OEM process; the emission certificate is part of the proposal.",
    "RAIL": "以招投标为主的轨道交通装备销售流程：资格预审、投标文件、中标通知。"
    "Rail transit equipment: the tender-driven process (pre-qualification, tender documents, award).",
    "MARINE": "船东与船厂双线推进的船舶动力销售流程，须船级社认可与三方技术协议。"
    "Marine power: selling to the owner and the yard; class approval and a tripartite agreement.",
}
CRANE_V1_DESCRIPTION = (
    "起重机销售流程第一版（已停用）：第二版增加了现场工况勘察与交机安装计划，放宽前的停滞天数更长。"
    "Cranes v1, retired: v2 added the site load survey and the delivery plan."
)

# --- competitors ------------------------------------------------------------------------------------

# name, English name, lines, strengths, weaknesses
COMPETITORS: list[tuple[str, str, tuple[str, ...], str, str]] = [
    ("徐工", "XCMG", ("CRANE",), "品牌认知度高，产品线全，经销网络密", "大吨位产品交期长，售后响应参差"),
    (
        "三一重工",
        "SANY",
        ("CRANE",),
        "营销强势，金融方案灵活，数字化服务",
        "价格战激进后服务跟不上，二手残值偏低",
    ),
    (
        "中联重科",
        "Zoomlion",
        ("CRANE",),
        "塔机市场份额领先，国企客户关系深",
        "汽车起重机线较弱，付款条件严格",
    ),
    ("柳工", "LiuGong", ("CRANE",), "价格有竞争力，华南、西南渠道强", "大吨位与全地面机型少"),
    ("利勃海尔", "Liebherr", ("CRANE",), "技术领先，可靠性与残值高", "价格高出 30% 以上，备件贵、交期长"),
    ("马尼托瓦克", "Manitowoc (Potain)", ("CRANE",), "平头塔机口碑好，国际项目认可", "本地化服务网点少"),
    (
        "潍柴动力",
        "Weichai Power",
        ("ENGINE", "MARINE"),
        "规模大，配套关系稳定，服务站多",
        "高端船用机型依赖授权技术",
    ),
    ("玉柴", "Yuchai", ("ENGINE",), "性价比高，排放升级快", "大功率段产品少"),
    ("康明斯", "Cummins", ("ENGINE",), "全球品牌，油耗与可靠性口碑好", "价格高，国四切换期供货紧张"),
    ("卡特彼勒", "Caterpillar", ("ENGINE",), "发电机组全球业绩多，品牌强", "价格高，交期受进口影响"),
    ("中国中车", "CRRC", ("RAIL",), "路局关系深，产品谱系全", "养护机械非其主业，定制响应慢"),
    ("普拉塞", "Plasser & Theurer", ("RAIL",), "捣固车技术标杆，作业精度高", "价格高，国产化率要求下受限"),
    (
        "金鹰重工",
        "Golden Eagle Heavy Industry",
        ("RAIL",),
        "接触网作业车业绩多，价格适中",
        "产能紧张，交期不稳",
    ),
    ("中船动力", "CSSC Power", ("MARINE",), "集团内船厂配套，低速机产能大", "中小船东服务意愿弱"),
    ("瓦锡兰", "Wärtsilä", ("MARINE",), "中速机与推进系统技术领先，全球服务", "价格高，国内备件周期长"),
    (
        "曼恩能源方案",
        "MAN Energy Solutions",
        ("MARINE",),
        "低速机设计授权方，船东认可度高",
        "整机价格与服务费高",
    ),
]
PRICE_POSITIONS = [
    "比我方低约 5%",
    "比我方低约 8%",
    "比我方低 10% 以上",
    "与我方持平",
    "比我方高约 5%",
    "比我方高 15% 以上",
]

# --- what the deals say -----------------------------------------------------------------------------

PROJECTS = {
    "construction": ["城市综合体项目", "高铁站房工程", "跨江大桥工程", "安置房项目", "产业园厂房项目"],
    "rental": ["年度设备更新", "租赁车队扩充", "风电吊装业务拓展"],
    "municipal": ["污水处理厂扩建", "城市管廊工程", "市政道路改造"],
    "ports": ["港区扩建工程", "集装箱堆场改造", "码头设备更新"],
    "mining": ["矿区设备更新", "露天矿扩产项目", "自备电站项目"],
    "energy": ["风电场吊装项目", "分布式能源站", "燃气发电项目"],
    "rail": ["线路大修项目", "接触网改造工程", "养护机械更新"],
    "manufacturing": ["新厂区建设", "主机配套项目", "产线改造项目"],
}
MARINE_PROJECTS = ["散货船新造项目", "集装箱船主机配套", "拖轮动力改装", "渔政船新造项目"]
SOURCE_DETAILS = {
    "lead": ["官网询价", "400 热线线索", "企业微信咨询"],
    "campaign": ["塔机以旧换新活动", "春季客户开放日", "国四切换推介会"],
    "exhibition": ["bauma CHINA 上海宝马展", "中国国际工程机械展", "海事展（Marintec China）"],
    "referral": ["老客户推荐", "设计院推荐", "合作伙伴推荐"],
    "existing": ["老客户复购", "老客户扩产"],
    "tender": ["公开招标", "邀请招标", "国铁集团物资招标"],
    "partner": ["区域代理商", "租赁合作伙伴"],
    "other": ["行业协会"],
}
#: Next steps by stage position (0 = the first open stage; the last list is for any later stage).
NEXT_STEPS = [
    ["电话确认采购计划", "拜访设备部了解项目", "确认项目立项与预算"],
    ["安排技术交流会", "现场勘察工况", "整理需求清单给方案组"],
    ["提交技术方案", "方案澄清会", "安排样机考察"],
    ["提交正式报价", "根据反馈修订报价", "与生产确认交期"],
    ["与采购部商务谈判", "确认付款方式与交期", "安排高层拜访推动签约"],
]
WIN_REASONS = [
    ("relationship", 30),
    ("technical", 25),
    ("service", 15),
    ("delivery", 15),
    ("price", 10),
    ("product", 5),
]
LOSS_REASONS = [
    ("price", 38),
    ("delivery", 12),
    ("product", 10),
    ("relationship", 12),
    ("technical", 8),
    ("financing", 8),
    ("no_decision", 12),
]
WIN_NOTES = {
    "relationship": "客户设备部长期使用我方设备，认可服务团队。",
    "technical": "工况方案匹配度高，技术评分第一。",
    "service": "本地服务站两小时响应打动客户。",
    "delivery": "现货与交期承诺满足项目节点。",
    "price": "综合报价（含金融方案）最具竞争力。",
    "product": "机型参数完全满足招标要求。",
}
LOSS_NOTES = {
    "price": "对手报价低 8%–12%，我方折扣已到审批上限。",
    "delivery": "客户要求 30 天内交机，我方排产无法满足。",
    "product": "客户需要的吨位或配置我方暂无对应机型。",
    "relationship": "对手与客户高层关系更深。",
    "technical": "技术评分落后，方案被认为过度配置。",
    "financing": "客户要求更长账期与融资租赁方案。",
    "no_decision": "项目延期，客户暂停采购。",
}
DELIVERY_TERMS = "合同生效并收到预付款后 {days} 天内交货，交货地点：买方项目现场。"
GATE_REASON = "客户场地尚未平整，地基勘察要等下月进场后才能做；客户要求先看方案，申请先推进到方案设计。"
DISCOUNT_REASON = "对手报价低约 8%，客户明确表示价格持平即签约，且可带动后续两台塔机，申请特价。"
#: Titles of the framework agreements, in the order of their customers.
AGREEMENT_TITLES = ["设备采购框架协议（{y}–{y2}）", "年度设备与备件供应框架协议（{y}–{y2}）"]

# The demo rep's open deals: (story, open stage position — negative from the end — or the field whose
# stage asks for it, days in the stage, machine)
REP_STORY: list[tuple[str, int | str, int, str]] = [
    ("fresh", 0, 2, "TC6013"),
    ("checklist", 1, 9, "TC7052"),
    ("gate", 1, 16, "T7530-16"),
    ("stalled", 2, 40, "TC7052"),
    ("pending_quote", "quote", 5, "T7530-16"),
    ("closing", -1, 6, "QY100K"),
]


# --- helpers ------------------------------------------------------------------------------------------


def _weighted(rng: Random, pairs: list[tuple[str, int]]) -> str:
    return rng.choices([p for p, _w in pairs], weights=[w for _p, w in pairs])[0]


def _decay_index(rng: Random, n: int, decay: float) -> int:
    return rng.choices(range(n), weights=[decay**i for i in range(n)])[0]


def _q(value: Decimal) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


class _Clock:
    """Today and "now"; a moment planned for today is never in the future."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.today = timezone.localdate(now)

    def at(self, rng: Random, day: dt.date, hours: tuple[int, int] = (9, 18)) -> dt.datetime:
        moment = timezone.make_aware(
            dt.datetime.combine(day, dt.time(rng.randint(hours[0], hours[1] - 1), rng.randrange(60)))
        )
        if moment > self.now:
            moment = self.now - dt.timedelta(minutes=5 + rng.randrange(60))
        return moment


def stage_days(line: str, n_open: int) -> list[float]:
    """Typical days in each of ``n_open`` stages: the line's cycle split with later stages longer."""
    weights = [0.6 + 0.8 * i / max(1, n_open - 1) for i in range(n_open)]
    total = CYCLE_DAYS.get(line, 70)
    return [total * w / sum(weights) for w in weights]


def in_office_hours(rng: Random, moment: dt.datetime, lo: dt.datetime, hi: dt.datetime) -> dt.datetime:
    """``moment`` moved to a working hour of its day (local time), kept within ``lo``..``hi``."""
    local = timezone.localtime(moment)
    moved = local.replace(hour=rng.randint(9, 17), minute=rng.randrange(60), second=0, microsecond=0)
    return min(max(moved, lo), hi)


def _days_in(rng: Random, base: float, factor: float = 1.0) -> int:
    """Days one deal spends in a stage: log-normal around ``base``, at least one day."""
    return max(1, min(round(base * 4), round(base * factor * rng.lognormvariate(0, 0.45))))


# --- playbooks --------------------------------------------------------------------------------------


@dataclass
class StageTemplate:
    code: str
    name: str
    name_en: str
    probability: Decimal
    category: str
    stall_days: int | None
    exit_criteria: str
    is_won: bool
    is_lost: bool
    items: list[tuple[str, str, str, str, bool]]  # kind, field, label, label_en, required


def default_template() -> list[StageTemplate]:
    """The stages of the default playbook in force (else the shipped one, from its data migration)."""
    from steelyard.sales.models import Playbook, PlaybookStatus

    default = (
        Playbook.objects.filter(product_line__isnull=True, status=PlaybookStatus.ACTIVE)
        .prefetch_related("stages__items")
        .first()
    )
    if default is not None and default.stages.exists():
        return [
            StageTemplate(
                s.code,
                s.name,
                s.name_en,
                s.probability,
                s.forecast_category,
                s.stall_days,
                s.exit_criteria,
                s.is_won,
                s.is_lost,
                [
                    (i.kind, i.field, i.label, i.label_en, i.required)
                    for i in sorted(s.items.all(), key=lambda i: (i.order, i.pk))
                ],
            )
            for s in sorted(default.stages.all(), key=lambda s: s.order)
        ]
    shipped = importlib.import_module("steelyard.sales.migrations.0002_default_playbook")
    return [
        StageTemplate(
            code,
            name,
            name_en,
            Decimal(prob),
            cat,
            stall,
            exit_criteria,
            won,
            lost,
            [(k, f, label, label_en, req) for k, f, label, label_en, req in shipped.ITEMS.get(code, [])],
        )
        for code, name, name_en, prob, cat, stall, won, lost, exit_criteria in shipped.STAGES
    ]


def _create_playbook(
    line: Any,
    template: list[StageTemplate],
    *,
    version: int,
    status: str,
    description: str,
    extra: bool,
    stall_factor: float,
    activated_at: dt.datetime,
) -> tuple[Any, int]:
    from steelyard.sales.models import Playbook, PlaybookItem, PlaybookStage

    playbook = Playbook.objects.create(
        product_line=line,
        name=f"{line.name}销售流程",
        version=version,
        status=status,
        description=description,
        activated_at=activated_at,
    )
    Playbook.objects.filter(pk=playbook.pk).update(created_at=activated_at - dt.timedelta(days=7))
    items: list[Any] = []
    for order, t in enumerate(template, 1):
        stage = PlaybookStage.objects.create(
            playbook=playbook,
            code=t.code,
            name=t.name,
            name_en=t.name_en,
            order=order,
            probability=t.probability,
            forecast_category=t.category,
            stall_days=max(7, round(t.stall_days * stall_factor)) if t.stall_days else None,
            exit_criteria=t.exit_criteria,
            is_won=t.is_won,
            is_lost=t.is_lost,
        )
        own = LINE_ITEMS.get(line.code, {}).get(t.code, []) if extra else []
        for n, (kind, fld, label, label_en, required) in enumerate([*t.items, *own], 1):
            items.append(
                PlaybookItem(
                    stage=stage,
                    kind=kind,
                    field=fld,
                    label=label,
                    label_en=label_en,
                    required=required,
                    order=n,
                )
            )
    PlaybookItem.objects.bulk_create(items)
    return playbook, 1 + len(template) + len(items)


def seed_playbooks(ctx: DemoContext, lines: dict[str, Any], now: dt.datetime) -> None:
    """Each demo line's own playbook (cranes: a retired v1 and the active v2); a line with any is kept."""
    from steelyard.sales.models import Playbook, PlaybookStatus

    have = set(
        Playbook.objects.filter(product_line__in=lines.values()).values_list("product_line_id", flat=True)
    )
    todo = [code for code in LINE_ITEMS if code in lines and lines[code].pk not in have]
    if not todo:
        return
    template = default_template()
    started = now - dt.timedelta(days=800)
    for code in todo:
        line, factor = lines[code], STALL_FACTOR.get(code, 1.0)
        if code == "CRANE":
            _pb, n1 = _create_playbook(
                line,
                template,
                version=1,
                status=PlaybookStatus.RETIRED,
                description=CRANE_V1_DESCRIPTION,
                extra=False,
                stall_factor=1.5,
                activated_at=started,
            )
            _pb, n2 = _create_playbook(
                line,
                template,
                version=2,
                status=PlaybookStatus.ACTIVE,
                description=LINE_DESCRIPTIONS[code],
                extra=True,
                stall_factor=factor,
                activated_at=now - dt.timedelta(days=CRANE_V2_DAYS_AGO),
            )
            ctx.count("sales.playbook", 2)
            ctx.count("sales.playbook_part", n1 + n2 - 2)
        else:
            _pb, n = _create_playbook(
                line,
                template,
                version=1,
                status=PlaybookStatus.ACTIVE,
                description=LINE_DESCRIPTIONS[code],
                extra=True,
                stall_factor=factor,
                activated_at=started,
            )
            ctx.count("sales.playbook")
            ctx.count("sales.playbook_part", n - 1)


def seed_competitors(ctx: DemoContext) -> dict[str, list[Any]]:
    """The competitors (by name) and, per line, the ones met there."""
    from steelyard.sales.models import Competitor

    have = {c.name: c for c in Competitor.objects.all()}
    by_line: dict[str, list[Any]] = defaultdict(list)
    for name, name_en, lines, strengths, weaknesses in COMPETITORS:
        if name not in have:
            have[name] = Competitor.objects.create(
                name=name, name_en=name_en, notes=f"优势：{strengths}。\n劣势：{weaknesses}。"
            )
            ctx.count("sales.competitor")
        for line in lines:
            by_line[line].append(have[name])
    return by_line


# --- the plan of the history ----------------------------------------------------------------------------


@dataclass
class LineSpec:
    product: Any
    kind: str  # LineKind
    quantity: Decimal
    list_price: Decimal
    unit_price: Decimal  # the estimate at list price, then the latest quoted net price
    parent: int | None = None  # index of the machine line an option belongs to


@dataclass
class VisitSpec:
    index: int  # position among the open stages; WON / LOST for the closing stages
    entered_at: dt.datetime
    left_at: dt.datetime | None = None


@dataclass
class QuoteSpec:
    revision: int
    created_at: dt.datetime
    status: str
    discounts: list[Decimal]  # per line, in percent
    sent_at: dt.datetime | None = None
    decided_at: dt.datetime | None = None


@dataclass
class Deal:
    customer: Any
    line: str
    outcome: str  # won / lost / open
    lines: list[LineSpec]
    visits: list[VisitSpec]
    expected_close: dt.date
    contract: Any = None
    version: int = 0
    name: str = ""
    description: str = ""
    source: str = ""
    source_detail: str = ""
    close_reason: str = ""
    close_note: str = ""
    lost_to: Any = None
    last_activity_at: dt.datetime | None = None
    next_step: str = ""
    next_step_date: dt.date | None = None
    team: list[tuple[Any, str]] = field(default_factory=list)
    contacts: list[tuple[Any, str, str]] = field(default_factory=list)  # contact, role, attitude
    competitors: list[tuple[Any, str, str]] = field(default_factory=list)  # competitor, threat, price
    quotes: list[QuoteSpec] = field(default_factory=list)
    checklist: str = "complete"  # the current stage's checklist: complete / partial
    category: str = ""  # a forecast category the rep set by hand
    probability: Decimal | None = None  # a probability the rep set by hand
    story: str = ""  # the part this deal plays in the demo story

    @property
    def owner(self) -> Any:
        return self.customer.owner

    @property
    def created_at(self) -> dt.datetime:
        return self.visits[0].entered_at

    @property
    def closed_at(self) -> dt.datetime | None:
        return self.visits[-1].entered_at if self.outcome != "open" else None

    @property
    def reached(self) -> int:
        """The furthest open stage reached (a won deal reached them all: a large number)."""
        if self.outcome == "won":
            return 99
        return max(v.index for v in self.visits if v.index >= 0)

    @property
    def amount(self) -> Decimal:
        return sum((_q(ln.unit_price * ln.quantity) for ln in self.lines), Decimal("0"))


@dataclass
class Book:
    """One playbook version as the plan uses it."""

    playbook: Any
    open: list[Any]  # open stages in order
    won: Any
    lost: Any
    items: dict[int, list[Any]]  # stage id → items in order

    def stage(self, index: int) -> Any:
        if index == WON:
            return self.won
        if index == LOST:
            return self.lost
        return self.open[min(index, len(self.open) - 1)]

    def need(self, fld: str, default: int) -> int:
        """Position of the first open stage requiring the field ``fld`` (``default`` when none does)."""
        for i, stage in enumerate(self.open):
            if any(
                it.kind == "field" and it.field == fld and it.required for it in self.items.get(stage.pk, [])
            ):
                return i
        return default


@dataclass
class World:
    """What the plan draws from, read once from the database."""

    clock: _Clock
    lines: dict[str, Any]
    products: dict[str, Any]
    books: dict[tuple[str, int], Book]
    active: dict[str, int]  # line → active version
    competitors: dict[str, list[Any]]
    customers: list[Any]
    contacts: dict[int, list[Any]]
    engineers: list[Any]
    delivery: list[Any]
    rep: Any
    menu: Any = None
    strategies: dict[tuple[int, int], Any] = field(default_factory=dict)

    def book(self, line: str, version: int | None = None) -> Book:
        return self.books[(line, version or self.active[line])]

    def n_open(self, line: str) -> int:
        return len(self.book(line).open)

    def strategy(self, customer: Any, line: str) -> Any:
        key = (customer.pk, self.lines[line].pk)
        if key not in self.strategies:
            from steelyard.tiering.selectors.strategy import strategy_for

            self.strategies[key] = strategy_for(customer, self.lines[line].pk, menu=self.menu)
        return self.strategies[key]


def _machines(world: World, line: str) -> list[Any]:
    from steelyard.catalog.demo import MACHINES

    return [m for m in MACHINES if m.line == line and m.code in world.products]


def _solution(rng: Random, world: World, line: str, *, machine_code: str | None = None) -> list[LineSpec]:
    """A configured solution of catalogue products at list price: a machine, options, maybe a service."""
    from steelyard.catalog.demo import OPTIONS, SERVICES, option_code, service_code

    candidates = _machines(world, line)
    machine = next((m for m in candidates if m.code == machine_code), None)
    if machine is None:
        # Cheaper models sell more often.
        machine = rng.choices(candidates, weights=[1 / math.sqrt(m.price) for m in candidates])[0]
    qty = Decimal(rng.randint(*machine.qty))
    product = world.products[machine.code]
    out = [LineSpec(product, "machine", qty, product.list_price, product.list_price)]
    options = [
        c
        for c in (option_code(machine.code, o[0]) for o in OPTIONS.get(machine.family, []))
        if c in world.products
    ]
    for code in rng.sample(options, k=min(len(options), rng.choice((0, 1, 1, 2)))):
        p = world.products[code]
        out.append(LineSpec(p, "option", qty, p.list_price, p.list_price, parent=0))
    services = [c for c in (service_code(line, s[0]) for s in SERVICES.get(line, [])) if c in world.products]
    if services and rng.random() < 0.45:
        p = world.products[rng.choice(services)]
        out.append(LineSpec(p, "service", Decimal(1), p.list_price, p.list_price))
    return out


def _describe(rng: Random, deal: Deal) -> None:
    customer, machine = deal.customer, deal.lines[0]
    projects = (
        MARINE_PROJECTS
        if deal.line == "MARINE"
        else PROJECTS.get(customer.industry, PROJECTS["construction"])
    )
    project = rng.choice(projects)
    short = customer.short_name or customer.legal_name[:8]
    qty = int(machine.quantity)
    deal.name = f"{short}{project} {machine.product.code}×{qty}"[:200]
    extras = len(deal.lines) - 1
    deal.description = (
        f"{customer.legal_name}{project}：{machine.product.name} {qty} {machine.product.unit or '台'}"
        + (f"，另含 {extras} 项选装、备件或服务" if extras else "")
        + "。"
    )


def _source(rng: Random, deal: Deal, repeat: bool) -> None:
    pairs = [
        ("existing", 25 if repeat else 0),
        ("lead", 15),
        ("exhibition", 12),
        ("referral", 12),
        ("campaign", 10),
        ("tender", 60 if deal.line == "RAIL" else 10),
        ("partner", 8),
        ("other", 3),
    ]
    deal.source = _weighted(rng, pairs)
    deal.source_detail = rng.choice(SOURCE_DETAILS[deal.source])


def _back_from(
    rng: Random, bases: list[float], positions: list[int], end: dt.date, last_factor: float = 1.0
) -> list[dt.date]:
    """Entry days of the stages ``positions``, walking back from ``end`` (the day the last one is left)."""
    days: list[dt.date] = []
    day = end
    for k in reversed(range(len(positions))):
        factor = last_factor if k == len(positions) - 1 else 1.0
        day = day - dt.timedelta(days=_days_in(rng, bases[positions[k]], factor))
        days.append(day)
    return list(reversed(days))


def _visits(rng: Random, clock: _Clock, days: list[dt.date], indexes: list[int]) -> list[VisitSpec]:
    """Stays on ``days`` (strictly increasing), each left when the next one is entered."""
    visits = [VisitSpec(i, clock.at(rng, d)) for i, d in zip(indexes, days, strict=True)]
    for a, b in zip(visits, visits[1:], strict=False):
        a.left_at = b.entered_at
    return visits


def _team(rng: Random, world: World, deal: Deal) -> None:
    n = world.n_open(deal.line)
    deal.team = [(deal.owner, "owner")]
    if deal.reached >= 1 and world.engineers:
        deal.team.append((rng.choice(world.engineers), "solution_engineer"))
    if world.delivery and (deal.outcome == "won" or (deal.reached >= n - 1 and rng.random() < 0.85)):
        deal.team.append((rng.choice(world.delivery), "delivery_manager"))


def _contacts(rng: Random, world: World, deal: Deal) -> None:
    people = list(world.contacts.get(deal.customer.pk, []))
    if not people:
        return
    rng.shuffle(people)
    want = rng.choice((2, 2, 3, 3, 4)) if deal.reached >= 1 else rng.choice((1, 2, 2, 2))
    chosen = people[: min(want, len(people))]
    # The one who decides: a contact whose usual role is deciding, else the first one.
    chief = next((c for c in chosen if c.decision_role == "decision_maker"), chosen[0])
    if deal.outcome == "won":
        attitudes = [("champion", 4), ("supporter", 4), ("neutral", 2)]
    elif deal.outcome == "lost":
        attitudes = [("supporter", 2), ("neutral", 4), ("opponent", 3)]
    else:
        attitudes = [("champion", 2), ("supporter", 4), ("neutral", 4), ("opponent", 1)]
    for c in chosen:
        role = "decision_maker" if c is chief and deal.reached >= 1 else (c.decision_role or "influencer")
        deal.contacts.append((c, role, _weighted(rng, attitudes)))


def _competitors(rng: Random, world: World, deal: Deal) -> None:
    pool = world.competitors.get(deal.line, [])
    if not pool:
        return
    required_from = world.book(deal.line).need("competitors", 2)
    if deal.reached >= required_from:
        n = rng.choice((1, 1, 2, 2, 3))
    elif deal.reached >= 1:
        n = rng.choice((0, 1, 1, 2))
    else:
        n = 1 if rng.random() < 0.3 else 0
    for comp in rng.sample(pool, k=min(n, len(pool))):
        threat = "high" if rng.random() < 0.1 else _weighted(rng, [("medium", 5), ("low", 3)])
        deal.competitors.append((comp, threat, rng.choice(PRICE_POSITIONS)))


def _quotes(rng: Random, world: World, deal: Deal, final: list[Decimal] | None = None) -> None:
    """Quote revisions of a deal that reached the stage asking for a quote; the lines take the latest price."""
    book = world.book(deal.line)
    qpos = book.need("quote", max(0, len(book.open) - 2))
    if deal.reached < qpos or deal.story == "pending_quote":
        return
    hosts = [v for v in deal.visits if v.index >= qpos]
    if not hosts:
        return
    n = rng.choices((1, 2, 3), weights=(50, 35, 15))[0] if len(hosts) > 1 or deal.outcome == "won" else 1
    if final is None:
        limit = float(world.strategy(deal.customer, deal.line).max_discount_pct)
        machine = max(0.0, min(20.0, round(rng.uniform(limit - 3, limit + 2) * 2) / 2))
        final = [
            Decimal(
                str(machine if ln.kind == "machine" else (round(machine) / 2 if ln.kind == "option" else 0))
            )
            for ln in deal.lines
        ]
    step = Decimal(rng.choice(("1.5", "2", "2.5", "3")))
    now = world.clock.now

    def within(visit: VisitSpec, lo: float, hi: float) -> dt.datetime:
        end = visit.left_at or now
        moment = visit.entered_at + (end - visit.entered_at) * rng.uniform(lo, hi)
        return in_office_hours(rng, moment, visit.entered_at, end)

    times = [within(hosts[0], 0.1, 0.5)]
    for r in range(2, n + 1):
        host = hosts[min(r - 1, len(hosts) - 1)]
        times.append(max(times[-1] + dt.timedelta(hours=3), within(host, 0.2, 0.8)))
    for r, created in enumerate(times, start=1):
        back = step * (n - r)
        discounts = [max(Decimal(0), d - back) if d else d for d in final]
        sent = min(created + dt.timedelta(hours=rng.randint(1, 4)), now - dt.timedelta(minutes=1))
        deal.quotes.append(QuoteSpec(r, created, "superseded", discounts, sent_at=sent))
    last = deal.quotes[-1]
    if deal.outcome == "won":
        last.status, last.decided_at = "accepted", deal.closed_at
    elif deal.outcome == "lost":
        last.status, last.decided_at = "rejected", deal.closed_at
    else:
        last.status = _weighted(rng, [("sent", 80), ("approved", 10), ("draft", 10)])
        if last.status != "sent":
            last.sent_at = None
    if deal.contract is None:
        for ln, d in zip(deal.lines, last.discounts, strict=True):
            ln.unit_price = _q(ln.list_price * (HUNDRED - d) / HUNDRED)


def _close(rng: Random, world: World, deal: Deal) -> None:
    if deal.outcome == "won":
        deal.close_reason = _weighted(rng, WIN_REASONS)
        deal.close_note = WIN_NOTES[deal.close_reason]
    elif deal.outcome == "lost":
        deal.close_reason = _weighted(rng, LOSS_REASONS)
        deal.close_note = LOSS_NOTES[deal.close_reason]
        if deal.close_reason != "no_decision":
            if not deal.competitors and world.competitors.get(deal.line):
                deal.competitors.append(
                    (rng.choice(world.competitors[deal.line]), "high", rng.choice(PRICE_POSITIONS))
                )
            high = [c for c, t, _p in deal.competitors if t == "high"]
            deal.lost_to = high[0] if high else deal.competitors[0][0]


def _fill(rng: Random, world: World, deal: Deal, *, repeat: bool, final: list[Decimal] | None = None) -> None:
    """Everything around the timeline: name, source, version, team, contacts, competitors, quotes, reason."""
    _describe(rng, deal)
    _source(rng, deal, repeat)
    deal.version = world.active[deal.line]
    older = sorted(v for code, v in world.books if code == deal.line and v < deal.version)
    if older and deal.created_at < world.clock.now - dt.timedelta(days=CRANE_V2_DAYS_AGO):
        deal.version = older[-1]
    _team(rng, world, deal)
    _contacts(rng, world, deal)
    _competitors(rng, world, deal)
    _quotes(rng, world, deal, final)
    _close(rng, world, deal)
    if deal.outcome != "open":
        deal.last_activity_at = deal.closed_at


LINE_KIND = {"machine": "machine", "option": "option", "spare_part": "part", "service": "service"}
KIND_ORDER = ("machine", "option", "part", "service")


def plan_won(rng: Random, world: World, customer: Any, contract: Any, order_lines: list[Any]) -> Deal | None:
    """The won deal behind one of the orders demo's contracts: closed on its signing day, its lines."""
    machines = [ol for ol in order_lines if ol.product.kind == "machine"]
    line = next(
        (
            code
            for code, pl in world.lines.items()
            if machines and pl.pk == machines[0].product.product_line_id
        ),
        None,
    )
    if line is None or (line, world.active.get(line, 0)) not in world.books:
        return None
    specs = sorted(
        (
            LineSpec(
                ol.product,
                LINE_KIND.get(ol.product.kind, "machine"),
                Decimal(ol.quantity).quantize(CENT),
                max(ol.product.list_price, ol.unit_price),
                ol.unit_price,
            )
            for ol in order_lines
        ),
        key=lambda s: KIND_ORDER.index(s.kind),
    )
    for s in specs:
        if s.kind == "option":
            s.parent = 0
    n = world.n_open(line)
    bases = stage_days(line, n)
    signed = contract.signed_on
    days = _back_from(rng, bases, list(range(n)), signed)
    visits = _visits(rng, world.clock, [*days, signed], [*range(n), WON])
    slip = rng.choice((-14, -7, 0, 0, 0, 0, 7, 14, 21))  # days the deal closed after it was expected
    deal = Deal(customer, line, "won", specs, visits, signed - dt.timedelta(days=slip), contract=contract)
    final = [
        max(Decimal(0), _q(HUNDRED - s.unit_price * HUNDRED / s.list_price)) if s.list_price else Decimal(0)
        for s in specs
    ]
    _fill(rng, world, deal, repeat=True, final=final)
    return deal


def plan_lost(rng: Random, world: World, customer: Any, line: str, repeat: bool) -> Deal:
    clock = world.clock
    n = world.n_open(line)
    death = _decay_index(rng, n, DEATH_DECAY)
    # The business grew: more deals closed lately than two years ago.
    closed = clock.today - dt.timedelta(days=2 + int(713 * rng.random() ** 1.25))
    days = _back_from(rng, stage_days(line, n), list(range(death + 1)), closed, rng.uniform(1.0, 2.0))
    visits = _visits(rng, clock, [*days, closed], [*range(death + 1), LOST])
    deal = Deal(
        customer,
        line,
        "lost",
        _solution(rng, world, line),
        visits,
        closed + dt.timedelta(days=rng.randint(-10, 60)),
    )
    _fill(rng, world, deal, repeat=repeat)
    return deal


def plan_open(
    rng: Random,
    world: World,
    customer: Any,
    line: str,
    repeat: bool,
    *,
    stage: int | None = None,
    elapsed: int | None = None,
    created_days_ago: int | None = None,
    story: str = "",
    machine: str | None = None,
) -> Deal:
    """An open deal now in open stage ``stage``, entered ``elapsed`` days ago (both drawn when not given)."""
    clock = world.clock
    n = world.n_open(line)
    bases = stage_days(line, n)
    k = min(stage, n - 1) if stage is not None else _decay_index(rng, n, OPEN_DECAY)
    stalled = not story and rng.random() < 0.06
    if created_days_ago is not None:
        # An old deal walked forward from its creation day (it started on an older playbook version).
        day = clock.today - dt.timedelta(days=created_days_ago)
        days = []
        for i in range(k + 1):
            days.append(min(day, clock.today - dt.timedelta(days=k - i)))
            day = days[-1] + dt.timedelta(days=min(30, _days_in(rng, bases[i])))
        elapsed = (clock.today - days[-1]).days
    else:
        if elapsed is None:
            elapsed = int(rng.uniform(0, 1.2) * bases[k])
            if stalled:  # nothing happened for longer than the stage allows
                elapsed = (world.book(line).open[k].stall_days or 30) + rng.randint(5, 30)
        entered = clock.today - dt.timedelta(days=elapsed)
        days = [*_back_from(rng, bases, list(range(k)), entered), entered]
    visits = _visits(rng, clock, days, list(range(k + 1)))
    remaining = max(0.0, bases[k] - elapsed) + sum(bases[k + 1 :])
    # Early deals wait for the customer's project too: their close dates spread further out.
    spread = rng.randint(0, 150) if k <= 1 else (rng.randint(0, 60) if k == 2 else rng.randint(0, 25))
    close = clock.today + dt.timedelta(days=min(270, int(remaining * rng.uniform(0.5, 1.3)) + spread + 3))
    deal = Deal(
        customer, line, "open", _solution(rng, world, line, machine_code=machine), visits, close, story=story
    )
    _fill(rng, world, deal, repeat=repeat)
    stall = world.book(line, deal.version).open[k].stall_days or 30
    entered_at = visits[-1].entered_at
    stalls = stalled or story == "stalled" or (story == "v1" and rng.random() < 0.5)
    if stalls and elapsed > stall + 2:
        quiet_since = max(entered_at, clock.now - dt.timedelta(days=stall + rng.randint(4, 25)))
        latest = max(entered_at, clock.now - dt.timedelta(days=stall + 2))
        deal.last_activity_at = in_office_hours(rng, quiet_since, entered_at, latest)
    else:
        window = min((clock.now - entered_at).total_seconds(), max(1, stall - 3) * 86400.0)
        moment = clock.now - dt.timedelta(seconds=rng.uniform(0, max(window, 600.0)))
        deal.last_activity_at = in_office_hours(rng, moment, entered_at, clock.now)
    if story in ("", "v1") and rng.random() < (0.5 if story else 0.04):
        deal.expected_close = clock.today - dt.timedelta(days=rng.randint(3, 35))
    deal.next_step = rng.choice(NEXT_STEPS[min(k, len(NEXT_STEPS) - 1)] if k < n - 1 else NEXT_STEPS[-1])
    deal.next_step_date = clock.today + dt.timedelta(days=rng.randint(-5, 14))
    if not story:
        deal.checklist = "complete" if rng.random() < 0.85 else "partial"
        roll = rng.random()
        if roll < 0.06 and k == n - 2:
            deal.category = "commit"  # the rep is surer than the stage
        elif roll > 0.96:
            deal.category = "omitted"  # budget frozen: kept out of the forecast
        if rng.random() < 0.05:
            deal.probability = Decimal(rng.choice((15, 35, 65, 85)))
    return deal


def _line_for(rng: Random, world: World, customer: Any, won_lines: list[str]) -> str:
    from steelyard.orders.demo import INDUSTRY_LINES

    if won_lines and rng.random() < 0.6:
        return rng.choice(won_lines)
    pairs = INDUSTRY_LINES.get(customer.industry, [("CRANE", 1)])
    if not customer.credit_code:  # overseas customers buy cranes and marine power
        pairs = [("CRANE", 6), ("MARINE", 4)]
    pairs = [(code, w) for code, w in pairs if code in world.active and _machines(world, code)]
    if not pairs:
        pairs = [(code, 1) for code in world.active if _machines(world, code)]
    return _weighted(rng, pairs)


def _count(rng: Random, mean: float) -> int:
    whole = int(mean)
    return whole + (1 if rng.random() < mean - whole else 0)


def plan_history(rng: Random, world: World, contracts: list[tuple[Any, Any, list[Any]]]) -> list[Deal]:
    """Every demo deal, oldest first: won (from the contracts), lost and open around them, the story deals."""
    deals: list[Deal] = []
    won_lines: dict[int, list[str]] = defaultdict(list)
    for customer, contract, order_lines in contracts:
        share = REP_WON_SHARE if customer.owner_id == world.rep.pk else WON_SHARE
        if rng.random() >= share:
            continue
        deal = plan_won(rng, world, customer, contract, order_lines)
        if deal is not None:
            deals.append(deal)
            won_lines[customer.pk].append(deal.line)
    for customer in world.customers:
        mine = won_lines[customer.pk]
        for _i in range(_count(rng, LOST_BASE + LOST_PER_WON * len(mine))):
            deals.append(plan_lost(rng, world, customer, _line_for(rng, world, customer, mine), bool(mine)))
        first, second = OPEN_CHANCE.get(customer.status, (0.3, 0.0))
        if len(world.contacts.get(customer.pk, [])) < 2:
            first, second = first * 0.4, 0.0  # deals with one contact are rare (single-threaded)
        n_open = (rng.random() < first) + (rng.random() < second)
        if customer.owner_id == world.rep.pk:
            n_open = min(n_open, 1)
        for _i in range(n_open):
            deals.append(plan_open(rng, world, customer, _line_for(rng, world, customer, mine), bool(mine)))
    deals.extend(plan_story(rng, world, won_lines))
    deals.sort(key=lambda d: d.created_at)
    return deals


def plan_story(rng: Random, world: World, won_lines: dict[int, list[str]]) -> list[Deal]:
    """The rep's open deals of the story (tower cranes, his team's line) and three deals still on crane v1."""
    if "CRANE" not in world.active:
        return []
    book = world.book("CRANE")
    n = len(book.open)
    mine = sorted(
        (c for c in world.customers if c.owner_id == world.rep.pk),
        key=lambda c: (-min(3, len(world.contacts.get(c.pk, []))), c.pk),
    )
    out = []
    chosen = mine[: len(REP_STORY)]
    # The closing deal goes to the customer with the smallest credit limit (its quote is over the limit).
    closing = min(chosen, key=lambda c: (world.strategy(c, "CRANE").credit_limit or 0, c.pk), default=None)
    rest = [c for c in chosen if c is not closing]
    for story, where, elapsed, machine in REP_STORY:
        customer = closing if story == "closing" else (rest.pop(0) if rest else None)
        if customer is None:
            continue
        stage = book.need(where, n - 2) if isinstance(where, str) else (where if where >= 0 else n + where)
        deal = plan_open(
            rng,
            world,
            customer,
            "CRANE",
            bool(won_lines.get(customer.pk)),
            stage=stage,
            elapsed=elapsed,
            story=story,
            machine=machine,
        )
        deal.competitors = [(c, "medium" if t == "high" else t, p) for c, t, p in deal.competitors]
        deal.checklist = "partial" if story in ("checklist", "gate") else "complete"
        if story == "closing":
            deal.expected_close = max(world.clock.today, world.clock.today.replace(day=28))
        out.append(deal)
    if ("CRANE", world.active["CRANE"] - 1) in world.books:
        others = [
            c
            for c in world.customers
            if c.owner_id != world.rep.pk and len(world.contacts.get(c.pk, [])) >= 2
        ]
        for stage, customer in zip(
            (n - 3, n - 2, n - 1), rng.sample(others, k=min(3, len(others))), strict=False
        ):
            out.append(
                plan_open(
                    rng,
                    world,
                    customer,
                    "CRANE",
                    bool(won_lines.get(customer.pk)),
                    stage=max(0, stage),
                    created_days_ago=CRANE_V2_DAYS_AGO + rng.randint(30, 80),
                    story="v1",
                )
            )
    return out


# --- reading the world --------------------------------------------------------------------------------


def load_world(ctx: DemoContext, now: dt.datetime, competitors: dict[str, list[Any]]) -> World | None:
    from django.db.models import Q

    from steelyard.catalog.models import Product, ProductLine
    from steelyard.customers.demo import plan_demo_customers
    from steelyard.customers.models import Contact, Customer
    from steelyard.org.models import User
    from steelyard.sales.models import Opportunity, Playbook, PlaybookItem, PlaybookStatus
    from steelyard.tiering.selectors.strategy import menu_in_force

    rep = ctx.logins.get("rep") or User.objects.filter(username="rep").first()
    lines = {pl.code: pl for pl in ProductLine.objects.filter(code__in=list(LINE_ITEMS))}
    products = {p.code: p for p in Product.objects.filter(is_active=True)}
    if rep is None or not lines or not products:
        return None
    books: dict[tuple[str, int], Book] = {}
    active: dict[str, int] = {}
    code_of = {pl.pk: code for code, pl in lines.items()}
    playbooks = Playbook.objects.filter(
        product_line__in=lines.values(), status__in=[PlaybookStatus.ACTIVE, PlaybookStatus.RETIRED]
    ).prefetch_related("stages")
    items: dict[int, list[Any]] = defaultdict(list)
    for item in PlaybookItem.objects.filter(stage__playbook__in=playbooks).order_by("order", "pk"):
        items[item.stage_id].append(item)
    for pb in playbooks:
        stages = sorted(pb.stages.all(), key=lambda s: s.order)
        won = next((s for s in stages if s.is_won), None)
        lost = next((s for s in stages if s.is_lost), None)
        open_ = [s for s in stages if not s.is_won and not s.is_lost]
        if won is None or lost is None or not open_:
            continue
        code = code_of[pb.product_line_id or 0]
        books[(code, pb.version)] = Book(pb, open_, won, lost, {s.pk: items.get(s.pk, []) for s in stages})
        if pb.status == PlaybookStatus.ACTIVE:
            active[code] = pb.version
    # A line whose active playbook has another number of stages than an older one keeps only the active one.
    for code, version in list(books):
        if code in active and len(books[(code, version)].open) != len(books[(code, active[code])].open):
            del books[(code, version)]
    # The demo customers only, at every scale (like the orders demo); once any of them has a deal, the
    # history is there and nothing is planned again.
    specs = plan_demo_customers(ctx.seed)
    codes = {s.credit_code for s in specs if s.credit_code}
    names = {s.key for s in specs if not s.credit_code}
    demo = Customer.objects.filter(Q(credit_code__in=codes) | Q(credit_code="", name_key__in=names))
    if Opportunity.objects.filter(customer__in=demo).exists():
        return None
    customers = list(
        demo.filter(merged_into__isnull=True, owner__isnull=False, owner__is_active=True)
        .select_related("owner")
        .order_by("pk")
    )
    contacts: dict[int, list[Any]] = defaultdict(list)
    for c in Contact.objects.filter(customer__in=[c.pk for c in customers], is_active=True).order_by(
        "customer_id", "pk"
    ):
        contacts[c.customer_id].append(c)
    solution = ctx.users_by_role.get("solution_engineer") or list(
        User.objects.filter(roles__code="solution_engineer", is_active=True).order_by("pk")
    )
    engineers = [u for u in solution if "交付" not in (u.title or "") and "主任" not in (u.title or "")]
    delivery = [u for u in solution if "交付" in (u.title or "")]
    return World(
        clock=_Clock(now),
        lines=lines,
        products=products,
        books=books,
        active=active,
        competitors=competitors,
        customers=customers,
        contacts=contacts,
        engineers=engineers or solution,
        delivery=delivery or solution,
        rep=rep,
        menu=menu_in_force(timezone.localdate(now)),
    )


def load_contracts(world: World) -> list[tuple[Any, Any, list[Any]]]:
    """The orders demo's machine contracts of the last two years: one live order each, with its lines."""
    from steelyard.orders.models import Contract, ContractStatus, OrderLine, OrderStatus

    customers = {c.pk: c for c in world.customers}
    since = world.clock.today - dt.timedelta(days=700)
    contracts = {
        c.pk: c
        for c in Contract.objects.filter(
            customer_id__in=list(customers), signed_on__gte=since, signed_on__lte=world.clock.today
        ).exclude(status=ContractStatus.TERMINATED)
    }
    lines: dict[int, dict[int, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for ol in (
        OrderLine.objects.filter(order__contract_id__in=list(contracts))
        .exclude(order__status=OrderStatus.CANCELLED)
        .select_related("product", "order")
        .order_by("order_id", "line_no")
    ):
        lines[ol.order.contract_id or 0][ol.order_id].append(ol)
    out = []
    for pk, contract in sorted(contracts.items(), key=lambda kv: (kv[1].signed_on, kv[0])):
        orders = lines.get(pk, {})
        if len(orders) != 1:
            continue  # an annual framework contract (several orders) or nothing live
        order_lines = next(iter(orders.values()))
        if any(ol.product.kind == "machine" and ol.product.code in world.products for ol in order_lines):
            out.append((customers[contract.customer_id], contract, order_lines))
    return out


# --- writing the history ------------------------------------------------------------------------------


def _pdf(title: str) -> bytes:
    """A small valid one-page PDF saying ``title`` (ASCII): the stand-in of an attached document."""
    text = title.encode("ascii", "replace").replace(b"(", b"[").replace(b")", b"]")
    stream = b"BT /F1 14 Tf 72 760 Td (" + text + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >>"
        b" /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _credit(
    world: World, customer: Any, amount: Decimal, balances: dict[int, Any], at: dt.datetime
) -> dict[str, Any]:
    """The credit check as ``services.quotes.credit_check`` records it (today's balances)."""
    from steelyard.orders.selectors import Balances
    from steelyard.tiering.selectors.strategy import customer_credit_terms

    limit = customer_credit_terms(customer, menu=world.menu).credit_limit
    b = balances.get(customer.pk, Balances())
    exposure = _q(b.outstanding + b.open_order_value + amount)
    return {
        "limit": str(_q(limit)) if limit is not None else None,
        "outstanding": str(b.outstanding),
        "open_orders": str(b.open_order_value),
        "quote": str(_q(amount)),
        "exposure": str(exposure),
        "over": bool(limit is not None and exposure > limit),
        "checked_at": at.isoformat(timespec="seconds"),
    }


def _between(rng: Random, start: dt.datetime, end: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    end = end or now
    return in_office_hours(rng, start + (end - start) * rng.uniform(0.05, 0.9), start, end)


def apply_history(ctx: DemoContext, rng: Random, world: World, deals: list[Deal]) -> list[Any]:
    """Bulk-insert the deals and everything that hangs off them; returns the opportunities."""
    from django.contrib.contenttypes.models import ContentType
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from steelyard.core.models import Attachment
    from steelyard.orders.selectors import balances_for
    from steelyard.sales.models import (
        OPEN_CATEGORIES,
        ChecklistEntry,
        Opportunity,
        OpportunityCompetitor,
        OpportunityContact,
        OpportunityLine,
        OpportunityMember,
        Quote,
        QuoteLine,
        StageVisit,
    )
    from steelyard.sales.services.forecast import weighted
    from steelyard.sales.services.funnel import funnel_backfill

    now, batch = world.clock.now, 1000
    opps: list[Any] = []
    for i, deal in enumerate(deals):
        book = world.book(deal.line, deal.version)
        stage = book.stage(deal.visits[-1].index)
        amount = deal.amount
        if deal.outcome == "open":
            probability = deal.probability if deal.probability is not None else stage.probability
            category = deal.category or (
                stage.forecast_category if stage.forecast_category in OPEN_CATEGORIES else "pipeline"
            )
            weighted_amount = weighted(amount, probability)
        else:
            probability, category = stage.probability, deal.outcome
            weighted_amount = amount if deal.outcome == "won" else Decimal("0")
        opps.append(
            Opportunity(
                number=f"OPP-DEMO-{i:06d}",
                name=deal.name,
                customer=deal.customer,
                product_line=world.lines[deal.line],
                playbook=book.playbook,
                stage=stage,
                status=deal.outcome,
                probability=probability,
                probability_is_manual=deal.probability is not None,
                forecast_category=category,
                forecast_category_is_manual=bool(deal.category),
                amount=amount,
                weighted_amount=weighted_amount,
                expected_close_date=deal.expected_close,
                next_step=deal.next_step,
                next_step_date=deal.next_step_date,
                description=deal.description,
                source=deal.source,
                source_detail=deal.source_detail,
                owner=deal.owner,
                org_unit_id=deal.owner.org_unit_id,
                closed_on=timezone.localdate(deal.closed_at) if deal.closed_at else None,
                close_reason=deal.close_reason,
                close_note=deal.close_note,
                lost_to=deal.lost_to,
                stage_entered_at=deal.visits[-1].entered_at,
                last_activity_at=deal.last_activity_at or deal.visits[-1].entered_at,
                created_by=deal.owner,
            )
        )
    Opportunity.objects.bulk_create(opps, batch_size=batch)
    for opp, deal in zip(opps, deals, strict=True):
        opp.number = f"OPP-{timezone.localtime(deal.created_at).year}-{opp.pk:06d}"
        opp.created_at = deal.created_at
        opp.updated_at = max([deal.visits[-1].entered_at, *(q.created_at for q in deal.quotes)])
    Opportunity.objects.bulk_update(opps, ["number", "created_at", "updated_at"], batch_size=batch)
    ctx.count("sales.opportunity", len(opps))
    _history_rows(world, opps, deals)

    lines, options = [], []
    for opp, deal in zip(opps, deals, strict=True):
        head: dict[int, Any] = {}
        for n, ln in enumerate(deal.lines):
            row = OpportunityLine(
                opportunity=opp,
                product=ln.product,
                kind=ln.kind,
                description=ln.product.name[:200],
                quantity=ln.quantity,
                unit_price=ln.unit_price,
                amount=_q(ln.unit_price * ln.quantity),
                order=n + 1,
            )
            if ln.parent is None:
                head[n] = row
                lines.append(row)
            else:
                row.parent = head[ln.parent]
                options.append(row)
    OpportunityLine.objects.bulk_create(lines, batch_size=batch)
    OpportunityLine.objects.bulk_create(options, batch_size=batch)
    ctx.count("sales.opportunity_line", len(lines) + len(options))

    members, contacts, rivals = [], [], []
    strengths = {name: (s, w) for name, _en, _l, s, w in COMPETITORS}
    for opp, deal in zip(opps, deals, strict=True):
        members += [OpportunityMember(opportunity=opp, user=u, role=role) for u, role in deal.team]
        contacts += [
            OpportunityContact(
                opportunity=opp,
                contact=c,
                role=role,
                attitude=attitude,
                note=c.title[:200] if c.title else "",
            )
            for c, role, attitude in deal.contacts
        ]
        for comp, threat, price in deal.competitors:
            s, w = strengths.get(comp.name, ("", ""))
            rivals.append(
                OpportunityCompetitor(
                    opportunity=opp,
                    competitor=comp,
                    strengths=s,
                    weaknesses=w,
                    threat=threat,
                    price_position=price,
                )
            )
    OpportunityMember.objects.bulk_create(members, batch_size=batch)
    OpportunityContact.objects.bulk_create(contacts, batch_size=batch)
    OpportunityCompetitor.objects.bulk_create(rivals, batch_size=batch)
    ctx.count("sales.opportunity_member", len(members))
    ctx.count("sales.opportunity_contact", len(contacts))
    ctx.count("sales.opportunity_competitor", len(rivals))

    # Stage visits and the checklist: passed stages done (a few with a required task left open, let
    # through by a manager: listed in ``missing`` of the next stay), the current one complete or partial.
    visits, entries, documents = [], [], []
    for opp, deal in zip(opps, deals, strict=True):
        book = world.book(deal.line, deal.version)
        engineer = next((u for u, role in deal.team if role == "solution_engineer"), deal.owner)
        missing_next: list[str] = []
        for k, v in enumerate(deal.visits):
            stage = book.stage(v.index)
            visits.append(
                StageVisit(
                    opportunity=opp,
                    stage=stage,
                    entered_at=v.entered_at,
                    left_at=v.left_at,
                    entered_by=deal.owner,
                    missing=missing_next,
                )
            )
            missing_next = []
            if v.index < 0:
                continue
            following = deal.visits[k + 1] if k + 1 < len(deal.visits) else None
            passed = following is not None and following.index != LOST
            tickable = [it for it in book.items.get(stage.pk, []) if it.kind != "field"]
            required = [it for it in tickable if it.required]
            gap = rng.choice(required) if passed and required and rng.random() < 0.01 else None
            left_open = (
                required[-1] if following is None and deal.checklist == "partial" and required else None
            )
            for it in tickable:
                if gap is not None and it is gap:
                    missing_next.append(gap.label)
                    continue
                if passed:
                    chance = 1.0 if it.required else 0.5
                elif following is None:  # the stage an open deal is in
                    chance = 0.0 if it is left_open else (1.0 if it.required else 0.3)
                else:  # the stage a lost deal died in
                    chance = 0.5
                if rng.random() >= chance:
                    continue
                by = engineer if it.kind == "document" else deal.owner
                entry = ChecklistEntry(
                    opportunity=opp,
                    item=it,
                    done=True,
                    done_by=by,
                    done_at=_between(rng, v.entered_at, v.left_at, now),
                    note="" if it.kind != "document" or deal.outcome == "open" else "纸质版已归档",
                )
                entries.append(entry)
                if it.kind == "document" and deal.outcome == "open":
                    documents.append((entry, it, opp, by))
    StageVisit.objects.bulk_create(visits, batch_size=batch)
    ctx.count("sales.stage_visit", len(visits))
    funnel_backfill([o.pk for o in opps])  # furthest stage reached, from the visits just written

    attachments = []
    if documents:
        content_type = ContentType.objects.get_for_model(Opportunity)
        for entry, it, opp, by in documents:
            body = _pdf(f"{it.label_en or 'Document'} - {opp.number}")
            stamp = timezone.localtime(entry.done_at)
            token = hashlib.sha256(f"{opp.pk}:{it.pk}:{ctx.seed}".encode()).hexdigest()[:32]
            stored = default_storage.save(f"attachments/{stamp:%Y/%m}/{token}.pdf", ContentFile(body))
            att = Attachment(
                content_type=content_type,
                object_id=str(opp.pk),
                file=stored,
                filename=f"{it.label}-{opp.number}.pdf",
                content_type_header="application/pdf",
                size=len(body),
                sha256=hashlib.sha256(body).hexdigest(),
                uploaded_by=by,
            )
            attachments.append((att, entry))
        Attachment.objects.bulk_create([a for a, _e in attachments], batch_size=batch)
        for att, entry in attachments:
            entry.attachment = att
            att.created_at = entry.done_at or now
        Attachment.objects.bulk_update([a for a, _e in attachments], ["created_at"], batch_size=batch)
        ctx.count("core.attachment", len(attachments))
    ChecklistEntry.objects.bulk_create(entries, batch_size=batch)
    ctx.count("sales.checklist_entry", len(entries))

    # Quotes: revisions share the first one's number; the accepted one points at the contract.
    balances = balances_for(list({d.customer.pk for d in deals if d.quotes}))
    quotes: list[tuple[Any, Deal, QuoteSpec]] = []
    for i, (opp, deal) in enumerate(zip(opps, deals, strict=True)):
        if not deal.quotes:
            continue
        strategy = world.strategy(deal.customer, deal.line)
        for spec in deal.quotes:
            list_total = sum((_q(ln.list_price * ln.quantity) for ln in deal.lines), Decimal("0"))
            net_total = sum(
                (
                    _q(_net(ln, d, deal, spec) * ln.quantity)
                    for ln, d in zip(deal.lines, spec.discounts, strict=True)
                ),
                Decimal("0"),
            )
            q = Quote(
                number=f"TMP-{i}",
                revision=spec.revision,
                opportunity=opp,
                customer=deal.customer,
                status=spec.status,
                language="zh-hans" if deal.customer.credit_code else "en",
                valid_until=timezone.localdate(spec.created_at) + dt.timedelta(days=30),
                list_total=list_total,
                net_total=net_total,
                discount_pct=max(spec.discounts, default=Decimal("0")),
                tier=strategy.tier,
                max_discount_pct=strategy.max_discount_pct,
                payment_terms_days=strategy.payment_terms_days,
                delivery_terms=DELIVERY_TERMS.format(days=rng.choice((30, 45, 60, 90))),
                credit=_credit(world, deal.customer, net_total, balances, spec.created_at),
                contract=deal.contract if spec.status == "accepted" else None,
                sent_at=spec.sent_at,
                decided_at=spec.decided_at,
                created_by=deal.owner,
            )
            quotes.append((q, deal, spec))
    Quote.objects.bulk_create([q for q, _d, _s in quotes], batch_size=batch)
    first: dict[int, Any] = {}
    for q, deal, spec in quotes:
        if spec.revision == 1:
            first[q.opportunity_id] = (q.pk, spec.created_at)
        pk, created = first[q.opportunity_id]
        q.number = f"Q-{timezone.localtime(created).year}-{pk:06d}"
        q.created_at = spec.created_at
        q.updated_at = spec.decided_at or spec.sent_at or spec.created_at
        q._history_date = q.updated_at
        q._history_user = deal.owner
    Quote.objects.bulk_update(
        [q for q, _d, _s in quotes], ["number", "created_at", "updated_at"], batch_size=batch
    )
    Quote.history.bulk_history_create(
        [q for q, _d, _s in quotes], batch_size=batch, default_change_reason=DEMO_NOTE
    )
    quote_lines = [
        QuoteLine(
            quote=q,
            product=ln.product,
            description=ln.product.name[:200],
            quantity=ln.quantity,
            unit=ln.product.unit,
            list_price=ln.list_price,
            discount_pct=d,
            net_price=_net(ln, d, deal, spec),
            amount=_q(_net(ln, d, deal, spec) * ln.quantity),
            order=n + 1,
        )
        for q, deal, spec in quotes
        for n, (ln, d) in enumerate(zip(deal.lines, spec.discounts, strict=True))
    ]
    QuoteLine.objects.bulk_create(quote_lines, batch_size=batch)
    ctx.count("sales.quote", len(quotes))
    ctx.count("sales.quote_line", len(quote_lines))
    return opps


def _net(ln: LineSpec, discount: Decimal, deal: Deal, spec: QuoteSpec) -> Decimal:
    """A quote line's net price: the contract's price on the accepted quote, else list less the discount."""
    if deal.contract is not None and spec.status == "accepted":
        return ln.unit_price
    return _q(ln.list_price * (HUNDRED - discount) / HUNDRED)


def _history_rows(world: World, opps: list[Any], deals: list[Deal]) -> None:
    """One historical row per stay: the deal as it stood when it entered each stage."""
    from steelyard.sales.models import OPEN_CATEGORIES, Opportunity
    from steelyard.sales.services.forecast import weighted

    Historical = Opportunity.history.model
    tracked = [f.attname for f in Historical.tracked_fields]
    rows = []
    for opp, deal in zip(opps, deals, strict=True):
        book = world.book(deal.line, deal.version)
        base = {name: getattr(opp, name) for name in tracked}
        for k, v in enumerate(deal.visits):
            values = dict(base)
            if k < len(deal.visits) - 1:
                stage = book.stage(v.index)
                category = (
                    stage.forecast_category if stage.forecast_category in OPEN_CATEGORIES else "pipeline"
                )
                values.update(
                    stage_id=stage.pk,
                    status="open",
                    probability=stage.probability,
                    probability_is_manual=False,
                    forecast_category=category,
                    forecast_category_is_manual=False,
                    weighted_amount=weighted(opp.amount, stage.probability),
                    stage_entered_at=v.entered_at,
                    closed_on=None,
                    close_reason="",
                    close_note="",
                    lost_to_id=None,
                )
            rows.append(
                Historical(
                    history_date=v.entered_at,
                    history_type="+" if k == 0 else "~",
                    history_user_id=deal.owner.pk,
                    history_change_reason=DEMO_NOTE,
                    **values,
                )
            )
    Historical.objects.bulk_create(rows, batch_size=1000)


def _pool_events(deals: list[Deal]) -> None:
    """The customers' pool clocks hear of their latest opportunity, and of the open ones."""
    from steelyard.customers.services.pool import customer_record_event, customer_set_open_opportunity

    latest: dict[int, tuple[Any, dt.datetime]] = {}
    has_open: dict[int, Any] = {}
    for deal in deals:
        c = deal.customer
        if c.pk not in latest or deal.created_at > latest[c.pk][1]:
            latest[c.pk] = (c, deal.created_at)
        if deal.outcome == "open":
            has_open[c.pk] = c
    for customer, at in latest.values():
        customer_record_event(customer=customer, event="opportunity", at=at)
    for customer in has_open.values():
        customer_set_open_opportunity(customer=customer, has_open=True)


# --- weekly snapshots of the past --------------------------------------------------------------------


def past_weeks(today: dt.date, n: int = SNAPSHOT_WEEKS) -> list[dt.date]:
    """The Mondays of the ``n`` weeks before this one, oldest first."""
    monday = today - dt.timedelta(days=today.weekday())
    return [monday - dt.timedelta(weeks=k) for k in range(n, 0, -1)]


def snapshot_moment(week: dt.date) -> dt.datetime:
    """When a reconstructed weekly snapshot counts as taken: Monday 06:00, before anybody works."""
    return timezone.make_aware(dt.datetime.combine(week, dt.time(6, 0)))


Key = tuple[int, int | None, int, dt.date, str]


class ForecastHistory:
    """Every deal with its stays, read once, to rebuild the forecast cells as they stood at past moments."""

    def __init__(self) -> None:
        from steelyard.sales.models import Opportunity, PlaybookStage, StageVisit

        self.stages = {
            s.pk: s
            for s in PlaybookStage.objects.only("pk", "probability", "forecast_category", "is_won", "is_lost")
        }
        self.stays: dict[int, list[tuple[dt.datetime, int]]] = defaultdict(list)
        for opp_id, entered_at, stage_id in StageVisit.objects.order_by(
            "opportunity_id", "entered_at", "id"
        ).values_list("opportunity_id", "entered_at", "stage_id"):
            self.stays[opp_id].append((entered_at, stage_id))
        self.deals = list(
            Opportunity.objects.values(
                "pk",
                "status",
                "owner_id",
                "org_unit_id",
                "product_line_id",
                "amount",
                "expected_close_date",
                "closed_on",
                "stage_id",
                "probability",
                "probability_is_manual",
                "forecast_category",
                "forecast_category_is_manual",
            )
        )

    @staticmethod
    def called_commit(row: Any, moment: dt.datetime) -> bool:
        """Whether the rep had put a best-case deal in commit by hand then: most deals won within the
        next six weeks were called (three in four, fixed per deal and week)."""
        if row["status"] != "won" or row["closed_on"] is None:
            return False
        if (row["closed_on"] - timezone.localdate(moment)).days > 42:
            return False
        return hashlib.sha256(f"{row['pk']}:{moment.date()}".encode()).digest()[0] % 4 != 0

    def cells_at(self, moment: dt.datetime) -> dict[Key, list[int]]:
        """The forecast cells as they stood at ``moment``: ``{(owner, unit, line, month, category): [count,
        amount cents, weighted cents]}``.

        A deal counts once its first stay began: in the stage it was in at ``moment``, at that stage's
        probability and category (its own figures where it still is in that stage and they were set by
        hand; a best-case deal the rep had called commit, :meth:`called_commit`, in commit), in the month
        of its expected close date (when that had passed, the date it closed); once closed, in ``won`` / ``lost`` of the month it closed. Today's amount
        and expected close date stand in for what they were then (history does not keep them apart).
        """
        from steelyard.sales.models import OPEN_CATEGORIES
        from steelyard.sales.services.forecast import cents, weighted

        cells: dict[Key, list[int]] = defaultdict(lambda: [0, 0, 0])
        for row in self.deals:
            stage_id = None
            for entered_at, sid in self.stays.get(row["pk"], ()):
                if entered_at > moment:
                    break
                stage_id = sid
            if stage_id is None:
                continue  # not created yet
            stage = self.stages[stage_id]
            amount = row["amount"]
            if stage.is_won or stage.is_lost:
                day = row["closed_on"] or row["expected_close_date"]
                category = "won" if stage.is_won else "lost"
                weighted_cents = cents(amount) if stage.is_won else 0
            else:
                day = row["expected_close_date"]
                if day < timezone.localdate(moment) and row["closed_on"] is not None:
                    day = row["closed_on"]  # the date had passed: the rep had moved it to when it closed
                same = stage.pk == row["stage_id"]
                probability = (
                    row["probability"] if same and row["probability_is_manual"] else stage.probability
                )
                if same and row["forecast_category_is_manual"]:
                    category = row["forecast_category"]
                else:
                    category = (
                        stage.forecast_category if stage.forecast_category in OPEN_CATEGORIES else "pipeline"
                    )
                if category == "best_case" and self.called_commit(row, moment):
                    category = "commit"
                weighted_cents = cents(weighted(amount, probability))
            cell = cells[
                (
                    row["owner_id"],
                    row["org_unit_id"],
                    row["product_line_id"],
                    day.replace(day=1),
                    str(category),
                )
            ]
            cell[0] += 1
            cell[1] += cents(amount)
            cell[2] += weighted_cents
        return cells


def seed_snapshots(ctx: DemoContext, today: dt.date) -> None:
    """A weekly snapshot for each of the past weeks that has none, reconstructed (insert-only rows)."""
    from steelyard.sales.models import ForecastSnapshot, ForecastSnapshotRow

    weeks = past_weeks(today)
    have = set(ForecastSnapshot.objects.filter(is_weekly=True, week__in=weeks).values_list("week", flat=True))
    missing = [w for w in weeks if w not in have]
    if not missing:
        return
    history = ForecastHistory()
    for week in missing:
        moment = snapshot_moment(week)
        rows = [
            ForecastSnapshotRow(
                owner_id=owner,
                org_unit_id=unit,
                product_line_id=line,
                month=month,
                category=category,
                count=n,
                amount_cents=amount,
                weighted_cents=w,
            )
            for (owner, unit, line, month, category), (n, amount, w) in sorted(
                history.cells_at(moment).items(), key=lambda kv: (kv[0][0], kv[0][1] or 0, *kv[0][2:])
            )
            if n or amount or w
        ]
        snapshot = ForecastSnapshot.objects.create(
            taken_at=moment, week=week, taken_by=None, is_weekly=True, rows_count=len(rows)
        )
        for row in rows:
            row.snapshot = snapshot
        ForecastSnapshotRow.objects.bulk_create(rows, batch_size=1000)
        ctx.count("sales.forecast_snapshot")
        ctx.count("sales.forecast_snapshot_row", len(rows))


# --- framework agreements ---------------------------------------------------------------------------------


def _quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _add_quarters(day: dt.date, n: int) -> dt.date:
    months = day.year * 12 + day.month - 1 + 3 * n
    return dt.date(months // 12, months % 12 + 1, 1)


def agreement_candidates(
    today: dt.date, rep: Any, limit: int = 2
) -> list[tuple[Any, list[tuple[int, Decimal]]]]:
    """Key accounts with the most machines ordered in the last year, the rep's first; with their top products."""
    from django.db.models import Sum

    from steelyard.orders.models import OrderLine, OrderStatus

    since = today - dt.timedelta(days=365)
    rows = (
        OrderLine.objects.filter(
            order__customer__is_key_account=True,
            order__customer__owner__isnull=False,
            order__customer__merged_into__isnull=True,
            order__ordered_on__gte=since,
            product__kind__in=["machine", "spare_part"],
        )
        .exclude(order__status=OrderStatus.CANCELLED)
        .values("order__customer_id", "product_id")
        .annotate(qty=Sum("quantity"))
        .order_by()
    )
    by_customer: dict[int, list[tuple[int, Decimal]]] = defaultdict(list)
    for r in rows:
        by_customer[r["order__customer_id"]].append((r["product_id"], Decimal(r["qty"])))
    from steelyard.customers.models import Customer

    customers = {c.pk: c for c in Customer.objects.filter(pk__in=list(by_customer)).select_related("owner")}
    ranked = sorted(
        by_customer,
        key=lambda pk: (customers[pk].owner_id != rep.pk, -sum(q for _p, q in by_customer[pk]), pk),
    )
    out = []
    for pk in ranked[:limit]:
        top = sorted(by_customer[pk], key=lambda pq: (-pq[1], pq[0]))[:3]
        out.append((customers[pk], top))
    return out


def seed_agreements(ctx: DemoContext, rng: Random, today: dt.date) -> None:
    """Two framework agreements in force (through the agreement services), planned per quarter from the
    customer's own order history: past quarters near what was ordered, future ones at the average."""
    from steelyard.orders.models import Contract
    from steelyard.sales.models import FrameworkAgreement
    from steelyard.sales.services.agreements import agreement_activate, agreement_create, agreement_lines_set

    rep = ctx.logins.get("rep")
    if rep is None:
        return
    starts = _add_quarters(_quarter_start(today), -3)
    ends = _add_quarters(_quarter_start(today), 5) - dt.timedelta(days=1)
    quarters = [_add_quarters(starts, i) for i in range(8)]
    for n, (customer, top) in enumerate(agreement_candidates(today, rep)):
        number = f"HY-KJ{starts.year}-{customer.pk:04d}"
        if FrameworkAgreement.objects.filter(number=number).exists():
            continue
        contract = Contract.objects.filter(
            customer=customer, signed_on__year=today.year, number__endswith="K"
        ).first()
        agreement = agreement_create(
            actor=customer.owner,
            customer=customer,
            title=AGREEMENT_TITLES[n % len(AGREEMENT_TITLES)].format(y=starts.year, y2=ends.year),
            starts_on=starts,
            ends_on=ends,
            number=number,
            contract=contract,
            notes="按季度滚动确认需求，实际下单以订单为准；季度偏差超过 20% 时双方复盘。",
        )
        lines = []
        for product_id, qty in top:
            per_quarter = qty / 4
            for q in quarters:
                planned = max(
                    Decimal(1), (per_quarter * Decimal(str(rng.uniform(0.8, 1.3)))).quantize(Decimal(1))
                )
                lines.append({"product": product_id, "period_start": q, "planned_quantity": planned})
        agreement_lines_set(actor=customer.owner, agreement=agreement, lines=lines)
        agreement_activate(actor=customer.owner, agreement=agreement)
        ctx.count("sales.framework_agreement")
        ctx.count("sales.framework_line", len(lines))


# --- today's story, through the services -------------------------------------------------------------------


def _kind_registered(kind: str) -> bool:
    from steelyard.core.services.approvals import approval_kind_get

    return approval_kind_get(kind) is not None


def seed_story(ctx: DemoContext) -> None:
    """The rep asks the manager to approve a discount and to let a deal past a gate (each once)."""
    from steelyard.core.models import ApprovalRequest, ApprovalStatus
    from steelyard.sales.models import Opportunity, OpportunityStatus, Quote, QuoteStatus
    from steelyard.sales.services.stages import gate_missing

    rep = ctx.logins.get("rep")
    if rep is None:
        return
    mine = Opportunity.objects.filter(owner=rep, status=OpportunityStatus.OPEN, product_line__code="CRANE")
    if (
        _kind_registered("sales.quote_discount")
        and not Quote.objects.filter(opportunity__owner=rep, status=QuoteStatus.PENDING).exists()
    ):
        from steelyard.sales.services.quotes import opportunity_lines_for_quote, quote_create, quote_submit
        from steelyard.tiering.selectors.strategy import strategy_for

        target = (
            mine.filter(quotes__isnull=True, stage__items__field="quote", stage__items__required=True)
            .order_by("stage_entered_at", "pk")
            .first()
        )
        if target is not None:
            lines = opportunity_lines_for_quote(target)
            limit = strategy_for(target.customer, target.product_line_id).max_discount_pct
            for line in lines:
                if line["product"] is not None and line["product"].kind == "machine":
                    line["discount_pct"] = min(Decimal("30"), limit + Decimal("4"))
                elif line["product"] is not None and line["product"].kind == "option":
                    line["discount_pct"] = min(Decimal("30"), limit)
            quote = quote_create(
                actor=rep,
                opportunity=target,
                lines=lines,
                delivery_terms=DELIVERY_TERMS.format(days=45),
                notes="含运输、安装指导与操作培训。",
            )
            quote_submit(actor=rep, quote=quote, reason=DISCOUNT_REASON)
            ctx.count("sales.quote")
    if (
        _kind_registered("sales.stage_gate")
        and not ApprovalRequest.objects.filter(
            kind="sales.stage_gate", requester=rep, status=ApprovalStatus.PENDING
        ).exists()
    ):
        from steelyard.sales.services.opportunities import opportunity_stage_move

        survey = LINE_ITEMS["CRANE"]["needs"][0][2]
        for opp in mine.select_related("stage").order_by("stage_entered_at", "pk"):
            nxt = (
                opp.playbook.stages.filter(order__gt=opp.stage.order, is_won=False, is_lost=False)
                .order_by("order")
                .first()
            )
            if nxt is None or survey not in [m.label for m in gate_missing(opp, nxt)]:
                continue
            opportunity_stage_move(
                actor=rep, opportunity=opp, to_stage=nxt, request_approval=True, reason=GATE_REASON
            )
            ctx.count("core.approval_request")
            break


# --- the seeder ----------------------------------------------------------------------------------------------


@seeder("sales", after=("org", "catalog", "customers", "orders", "tiering"))
def seed_sales(ctx: DemoContext) -> None:
    """Playbooks, competitors, two years of deals, the forecast, past snapshots, agreements and the story."""
    from steelyard.catalog.models import ProductLine
    from steelyard.sales.models import Opportunity
    from steelyard.sales.services.forecast import forecast_rebuild
    from steelyard.sales.services.risks import risks_refresh

    if "rep" not in ctx.logins:
        return
    now = timezone.now()
    today = timezone.localdate(now)
    rng = ctx.rng
    lines = {pl.code: pl for pl in ProductLine.objects.filter(code__in=list(LINE_ITEMS))}
    if not lines:
        return
    created: list[int] = []
    with transaction.atomic():
        seed_playbooks(ctx, lines, now)
        competitors = seed_competitors(ctx)
        world = load_world(ctx, now, competitors)
        if world is not None and world.customers and world.active:
            deals = plan_history(rng, world, load_contracts(world))
            if deals:
                opps = apply_history(ctx, rng, world, deals)
                created = [o.pk for o in opps if o.status == "open"]
                _pool_events(deals)
                forecast_rebuild()
        if Opportunity.objects.count() <= SNAPSHOT_MAX_DEALS:
            seed_snapshots(ctx, today)
        else:  # a benchmark data set: rebuilding history from every stay would take long
            ctx.log(
                "  sales: too many deals to reconstruct past forecast snapshots; the weekly job takes them"
            )
    if ctx.scale == "S":
        # Through audited services: the benchmark scales keep the audit log at an exact size.
        with transaction.atomic():
            seed_agreements(ctx, rng, today)
            seed_story(ctx)
    # The new deals' flags (the story's services refresh their own deals; the nightly job does the rest).
    risks_refresh(ids=created)
