"""The shipped defaults: the global tier model "客户分级（全局）" and the strategy menu v1.

Data, not code: an administrator edits both afterwards. The values are a frozen copy made for
heavy-equipment customers (amounts in CNY). Running it again changes nothing (rows are keyed by the
model code and the menu version and only created when missing); reversing it deletes exactly the rows
it created, when nothing else depends on them (a model that has been run keeps its history).
"""

from decimal import Decimal

from django.db import migrations
from django.db.models.deletion import ProtectedError

MODEL_CODE = "global"
MODEL_NAME = "客户分级（全局）"
MODEL_DESCRIPTION = (
    "随系统提供的默认全局分级模型：按近12个月销售额、毛利率、增长、回款及时性、采购频次与最近一次采购、"
    "设备保有量、需求潜力和战略匹配度打分（满分100），分为战略、重点、一般、潜在四级。"
)
MENU_VERSION = 1
MENU_NAME = "差异化策略菜单"
MENU_FROM = "2026-01-01"
MENU_NOTES = (
    "随系统提供的默认策略菜单（按客户等级区分折扣、账期、信用额度、交付优先级、拜访、服务与公海回收）。"
)

# (code, name, English name, rank, min score)
TIERS = [
    ("strategic", "战略", "Strategic", 1, "75"),
    ("key", "重点", "Key", 2, "50"),
    ("regular", "一般", "Regular", 3, "25"),
    ("potential", "潜在", "Potential", 4, "0"),
]

# (code, weight, scoring, bands [[lower bound, share of the weight]], lower, upper, higher is better)
# Money in CNY; margin, growth and overdue share as fractions (0.25 = 25 %). When higher is better a band's
# bound is where it starts (raw >= bound); when lower is better (days late, overdue share, recency) where it
# ends (raw <= bound), and above the last bound scores 0.
FACTORS = [
    (
        "revenue_12m",
        "30",
        "bands",
        [[0, 0], [1_000_000, 0.2], [5_000_000, 0.4], [10_000_000, 0.6], [30_000_000, 0.8], [50_000_000, 1]],
        None,
        None,
        True,
    ),
    (
        "gross_margin",
        "10",
        "bands",
        [[0, 0], [0.1, 0.3], [0.2, 0.6], [0.3, 0.85], [0.4, 1]],
        None,
        None,
        True,
    ),
    ("revenue_growth", "10", "bands", [[-1, 0], [0, 0.4], [0.1, 0.7], [0.3, 1]], None, None, True),
    ("days_late", "10", "bands", [[0, 1], [15, 0.7], [30, 0.4], [60, 0.1]], None, None, False),
    ("overdue_share", "5", "bands", [[0, 1], [0.1, 0.7], [0.3, 0.3], [0.5, 0.1]], None, None, False),
    ("purchase_frequency", "10", "bands", [[0, 0], [1, 0.3], [3, 0.6], [6, 0.85], [12, 1]], None, None, True),
    ("recency_days", "5", "linear", [], "90", "720", False),
    ("installed_base", "10", "bands", [[0, 0], [1, 0.3], [5, 0.6], [20, 0.85], [50, 1]], None, None, True),
    (
        "potential",
        "5",
        "bands",
        [[0, 0], [5_000_000, 0.4], [20_000_000, 0.7], [50_000_000, 1]],
        None,
        None,
        True,
    ),
    ("strategic_fit", "5", "linear", [], "0", "5", True),
]

# tier ("" = customers without a tier) → the rule's values
RULES = [
    {
        "tier": "strategic",
        "max_discount_pct": "15",
        "approval_chain": ["sales_director", "executive"],
        "payment_terms_days": 90,
        "credit_limit": "20000000",
        "delivery_priority": 1,
        "visit_every_days": 14,
        "visitor_seniority": "director",
        "escalate_after_days": 7,
        "response_hours": 4,
        "resolution_hours": 24,
        "pool_recycle_days": 180,
        "entitlements": [
            "专属客户经理",
            "高层年度互访",
            "新产品优先试用",
            "备件优先保障与寄售库存",
            "免费年度设备巡检",
            "定制化操作与维修培训",
        ],
    },
    {
        "tier": "key",
        "max_discount_pct": "10",
        "approval_chain": ["sales_manager", "sales_director"],
        "payment_terms_days": 60,
        "credit_limit": "8000000",
        "delivery_priority": 2,
        "visit_every_days": 30,
        "visitor_seniority": "manager",
        "escalate_after_days": 14,
        "response_hours": 8,
        "resolution_hours": 48,
        "pool_recycle_days": 120,
        "entitlements": ["指定客户经理", "季度经营回顾", "备件优先供应", "年度设备巡检（优惠价）"],
    },
    {
        "tier": "regular",
        "max_discount_pct": "5",
        "approval_chain": ["sales_manager", "sales_director"],
        "payment_terms_days": 30,
        "credit_limit": "2000000",
        "delivery_priority": 3,
        "visit_every_days": 60,
        "visitor_seniority": "rep",
        "escalate_after_days": 30,
        "response_hours": 24,
        "resolution_hours": 72,
        "pool_recycle_days": 60,
        "entitlements": ["标准售后服务", "在线技术支持"],
    },
    {
        "tier": "potential",
        "max_discount_pct": "3",
        "approval_chain": ["sales_manager", "sales_director"],
        "payment_terms_days": 15,
        "credit_limit": "500000",
        "delivery_priority": 4,
        "visit_every_days": 90,
        "visitor_seniority": "rep",
        "escalate_after_days": 30,
        "response_hours": 48,
        "resolution_hours": 120,
        "pool_recycle_days": 30,
        "entitlements": ["标准售后服务", "市场活动邀请"],
    },
    {
        "tier": "",
        "max_discount_pct": "3",
        "approval_chain": ["sales_manager", "sales_director"],
        "payment_terms_days": 0,
        "credit_limit": "0",
        "delivery_priority": 4,
        "visit_every_days": 90,
        "visitor_seniority": "rep",
        "escalate_after_days": 30,
        "response_hours": 48,
        "resolution_hours": 120,
        "pool_recycle_days": 30,
        "entitlements": ["标准售后服务"],
    },
]


def create_defaults(apps, schema_editor):
    TierModel = apps.get_model("tiering", "TierModel")
    Tier = apps.get_model("tiering", "Tier")
    Factor = apps.get_model("tiering", "Factor")
    StrategyMenu = apps.get_model("tiering", "StrategyMenu")
    StrategyRule = apps.get_model("tiering", "StrategyRule")

    if not TierModel.objects.filter(code=MODEL_CODE).exists():
        # Another active global model (entered before this ran) keeps its place; ours starts inactive.
        other_global = TierModel.objects.filter(product_line__isnull=True, is_active=True).exists()
        model = TierModel.objects.create(
            code=MODEL_CODE,
            name=MODEL_NAME,
            description=MODEL_DESCRIPTION,
            hysteresis_margin=Decimal("2"),
            hysteresis_runs=2,
            is_active=not other_global,
        )
        Tier.objects.bulk_create(
            Tier(model=model, code=code, name=name, name_en=name_en, rank=rank, min_score=Decimal(min_score))
            for code, name, name_en, rank, min_score in TIERS
        )
        Factor.objects.bulk_create(
            Factor(
                model=model,
                code=code,
                weight=Decimal(weight),
                scoring=scoring,
                bands=bands,
                lower=Decimal(lower) if lower is not None else None,
                upper=Decimal(upper) if upper is not None else None,
                higher_is_better=higher,
            )
            for code, weight, scoring, bands, lower, upper, higher in FACTORS
        )

    if not StrategyMenu.objects.filter(version=MENU_VERSION).exists():
        menu = StrategyMenu.objects.create(
            name=MENU_NAME, version=MENU_VERSION, status="active", effective_from=MENU_FROM, notes=MENU_NOTES
        )
        StrategyRule.objects.bulk_create(
            StrategyRule(
                menu=menu,
                product_line=None,
                **{
                    **rule,
                    "max_discount_pct": Decimal(rule["max_discount_pct"]),
                    "credit_limit": Decimal(rule["credit_limit"]),
                },
            )
            for rule in RULES
        )


def delete_defaults(apps, schema_editor):
    TierModel = apps.get_model("tiering", "TierModel")
    StrategyMenu = apps.get_model("tiering", "StrategyMenu")
    # Only the rows this migration made: matched by their keys and shipped names.
    try:
        TierModel.objects.filter(code=MODEL_CODE, name=MODEL_NAME).delete()
    except ProtectedError:
        pass  # it has assessment runs: history is kept, the model stays
    StrategyMenu.objects.filter(version=MENU_VERSION, name=MENU_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("tiering", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_defaults, delete_defaults),
    ]
