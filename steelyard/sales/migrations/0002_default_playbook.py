"""The shipped default playbook: the sales process of an equipment manufacturer, for every product line
without a playbook of its own.

Data, not code: an administrator or sales director copies it into a new version (or into a product
line's own playbook) and edits that. Bilingual: ``name`` in Chinese, ``name_en`` in English; checklist
items likewise. Running it again changes nothing (created only when there is no default playbook at
all); reversing it deletes exactly the playbook it created, unless opportunities already use it.
"""

from decimal import Decimal

from django.db import migrations
from django.db.models.deletion import ProtectedError

PLAYBOOK_NAME = "标准销售流程"
PLAYBOOK_DESCRIPTION = (
    "随系统提供的默认销售流程（设备制造业）：线索确认 → 需求分析 → 方案设计 → 商务报价 → 谈判签约 → "
    "赢单/输单。每个阶段给出默认赢率、预测类别、停滞天数、退出标准和关键任务；没有自己销售流程的产品线都使用它。"
)

# code, name, name_en, probability, category, stall days, won, lost, exit criteria
STAGES = [
    (
        "qualify",
        "线索确认",
        "Qualify",
        "10",
        "pipeline",
        30,
        False,
        False,
        "客户有明确的设备需求、大致预算和采购时间窗口；已确认联系人和商机来源。",
    ),
    (
        "needs",
        "需求分析",
        "Needs analysis",
        "20",
        "pipeline",
        30,
        False,
        False,
        "已识别关键决策人及其在决策中的角色；完成现场调研，明确工况、产能和技术要求。",
    ),
    (
        "proposal",
        "方案设计",
        "Solution design",
        "40",
        "best_case",
        21,
        False,
        False,
        "方案工程师已加入商机团队；解决方案配置（设备、选项、服务）已录入；技术方案已提交并得到客户技术部门认可。",
    ),
    (
        "quotation",
        "商务报价",
        "Quotation",
        "60",
        "best_case",
        21,
        False,
        False,
        "已向客户提交正式报价，折扣在授权范围内或已获批准；交期已与生产确认。",
    ),
    (
        "negotiation",
        "谈判签约",
        "Negotiation",
        "80",
        "commit",
        14,
        False,
        False,
        "价格、付款条件和交期已达成一致；竞争对手情况清楚；合同草案经双方确认，等待签署。",
    ),
    ("won", "赢单", "Won", "100", "won", None, True, False, "合同已签订，订单交由交付团队。"),
    ("lost", "输单", "Lost", "0", "lost", None, False, True, "记录输单原因和赢得项目的竞争对手。"),
]

# stage code → [(kind, field, label, label_en, required)]
ITEMS = {
    "qualify": [
        ("task", "", "首次拜访或电话沟通，确认需求", "First call or visit to confirm the need", True),
        ("field", "source", "商机来源", "Source", True),
        ("field", "amount", "预估金额", "Estimated amount", False),
    ],
    "needs": [
        ("field", "decision_makers", "关键决策人", "Decision-makers", True),
        ("task", "", "现场调研", "Site survey", True),
        ("document", "", "需求调研报告", "Needs survey report", False),
    ],
    "proposal": [
        ("field", "solution_engineer", "方案工程师加入团队", "Solution engineer on the team", True),
        ("field", "lines", "解决方案配置", "Solution lines", True),
        ("document", "", "技术方案", "Technical proposal", True),
        ("task", "", "技术交流与方案讲解", "Technical presentation of the solution", False),
    ],
    "quotation": [
        ("field", "quote", "报价单", "Quote", True),
        ("field", "amount", "商机金额", "Amount", True),
        ("task", "", "与生产确认交期", "Confirm the delivery time with production", False),
    ],
    "negotiation": [
        ("field", "competitors", "竞争对手", "Competitors", True),
        ("document", "", "合同草案", "Contract draft", True),
        ("field", "delivery_manager", "交付经理加入团队", "Delivery manager on the team", False),
        ("task", "", "高层拜访", "Executive visit", False),
    ],
}


def create_default(apps, schema_editor):
    Playbook = apps.get_model("sales", "Playbook")
    PlaybookStage = apps.get_model("sales", "PlaybookStage")
    PlaybookItem = apps.get_model("sales", "PlaybookItem")
    if Playbook.objects.filter(product_line__isnull=True).exists():
        return  # a default playbook was entered before this ran: it stays the default
    from django.utils import timezone

    playbook = Playbook.objects.create(
        product_line=None,
        name=PLAYBOOK_NAME,
        version=1,
        status="active",
        description=PLAYBOOK_DESCRIPTION,
        activated_at=timezone.now(),
    )
    items = []
    for order, (code, name, name_en, prob, cat, stall, won, lost, exit_criteria) in enumerate(STAGES, 1):
        stage = PlaybookStage.objects.create(
            playbook=playbook,
            code=code,
            name=name,
            name_en=name_en,
            order=order,
            probability=Decimal(prob),
            forecast_category=cat,
            stall_days=stall,
            exit_criteria=exit_criteria,
            is_won=won,
            is_lost=lost,
        )
        for i, (kind, field, label, label_en, required) in enumerate(ITEMS.get(code, []), 1):
            items.append(
                PlaybookItem(
                    stage=stage,
                    kind=kind,
                    field=field,
                    label=label,
                    label_en=label_en,
                    required=required,
                    order=i,
                )
            )
    PlaybookItem.objects.bulk_create(items)


def delete_default(apps, schema_editor):
    Playbook = apps.get_model("sales", "Playbook")
    # Only the playbook this migration made: the default v1 with the shipped name.
    try:
        Playbook.objects.filter(product_line__isnull=True, version=1, name=PLAYBOOK_NAME).delete()
    except ProtectedError:
        pass  # opportunities started on it: their history keeps it


class Migration(migrations.Migration):
    dependencies = [
        ("sales", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_default, delete_default),
    ]
