"""Demo tiers: entered factor values, a first assessment of the global model, two overrides, one review.

Runs after the orders demo (tiers are computed from orders, margins and payments):

- about a third of the live customers (every third by id, deterministic) get a potential and a strategic
  fit entered by their owner (bulk-inserted: it is seeding);
- the engine assesses every customer under the shipped global model ("global", created by the migration
  ``0002_defaults``) once; without that model, or without the engine, this part is skipped;
- the demo ``rep`` asks for two overrides through the approval engine: one his manager approves (in force
  for six months), one still waiting for approval;
- the demo ``manager`` concludes the tier review of the last quarter.

Idempotent: every step looks for what it would create and does nothing when it is there. At the benchmark
scales (M, L) only the entered values are seeded: the rest writes audit rows, and those scales keep the
audit log at an exact size.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.utils import timezone

from steelyard.core.demo import DemoContext, seeder

POTENTIALS = [Decimal(v) for v in ("2000000", "6000000", "12000000", "25000000", "60000000")]
FITS = [Decimal(v) for v in ("1", "2", "3", "4", "5")]
APPROVED_REASON = "客户正在推进三年框架协议，集团层面确定为战略合作伙伴，先按高一级对待，到期复核。"
PENDING_REASON = (
    "新开发的港口项目客户，首台设备已签约，后续潜在需求大，申请临时提高一级以匹配拜访与服务资源。"
)
REVIEW_CONCLUSION = (
    "战略与重点客户贡献了大部分开票收入，分级与业绩基本一致。"
    "潜在客户数量偏多，下季度对近阈值客户加强拜访；两例人工调级到期后按评估结果恢复。"
)


def _entered_values(ctx: DemoContext) -> None:
    from steelyard.customers.models import Customer
    from steelyard.tiering.models import EnteredValue, FactorCode

    ids = list(
        Customer.objects.filter(merged_into__isnull=True, owner__isnull=False)
        .order_by("pk")
        .values_list("pk", "owner_id")
    )
    picked = ids[::3]
    have = set(
        EnteredValue.objects.filter(customer_id__in=[pk for pk, _o in picked]).values_list(
            "customer_id", "code"
        )
    )
    rows = []
    for pk, owner_id in picked:
        for code, choices in ((FactorCode.POTENTIAL, POTENTIALS), (FactorCode.STRATEGIC_FIT, FITS)):
            if (pk, code.value) in have:
                continue
            rows.append(
                EnteredValue(
                    customer_id=pk, code=code.value, value=ctx.rng.choice(choices), entered_by_id=owner_id
                )
            )
    EnteredValue.objects.bulk_create(rows, batch_size=1000)
    ctx.count("tiering.enteredvalue", len(rows))


def _assess(ctx: DemoContext, model: Any) -> None:
    from steelyard.tiering.models import AssessmentRun, RunStatus

    if AssessmentRun.objects.filter(model=model, status=RunStatus.DONE).exists():
        return
    try:
        from steelyard.tiering.services.assessment import assessment_run
    except ImportError:
        ctx.log("  tiering: the assessment engine is not available; customers stay untiered")
        return
    run = assessment_run(model=model, actor=None)
    ctx.count("tiering.assessmentrun")
    ctx.count("tiering.assessment", int(getattr(run, "customers", 0) or 0))


def _target_tier(model: Any, customer: Any) -> str:
    """One tier better than the customer's tier in force (or the second best for the top / no tier)."""
    from steelyard.tiering.models import CustomerTier
    from steelyard.tiering.services.overrides import effective_tier

    tiers = sorted(model.tiers.all(), key=lambda t: t.rank)
    ct = CustomerTier.objects.filter(customer=customer, model=model).first()
    current = effective_tier(ct) if ct else ""
    ranks = {t.code: i for i, t in enumerate(tiers)}
    i = ranks.get(current, len(tiers))
    target = tiers[i - 1] if i > 0 else tiers[min(1, len(tiers) - 1)]
    return target.code


def _overrides(ctx: DemoContext, model: Any) -> None:
    from steelyard.core.models import ApprovalStep
    from steelyard.core.services.approvals import approval_decide
    from steelyard.customers.models import Customer
    from steelyard.tiering.models import TierOverride
    from steelyard.tiering.services.overrides import override_request

    rep = ctx.logins.get("rep")
    if rep is None or TierOverride.objects.filter(requested_by=rep).exists() or not model.tiers.exists():
        return
    mine = list(
        Customer.objects.filter(owner=rep, merged_into__isnull=True, status="active").order_by("pk")[:2]
    ) or list(Customer.objects.filter(owner=rep, merged_into__isnull=True).order_by("pk")[:2])
    if len(mine) < 2:
        return
    today = timezone.localdate()
    approved = override_request(
        actor=rep,
        customer=mine[0],
        model=model,
        tier=_target_tier(model, mine[0]),
        reason=APPROVED_REASON,
        expires_on=today + relativedelta(months=6),
    )
    # Every step approves (the rep's manager, and whoever a configured route adds).
    for _i in range(10):
        approval = approved.approval
        approval.refresh_from_db()
        if approval.status != "pending":
            break
        step = ApprovalStep.objects.select_related("approver").get(
            request=approval, order=approval.current_step
        )
        approval_decide(actor=step.approver, request=approval, decision="approve", comment="同意，到期复核。")
    override_request(
        actor=rep,
        customer=mine[1],
        model=model,
        tier=_target_tier(model, mine[1]),
        reason=PENDING_REASON,
        expires_on=today + relativedelta(months=3),
    )
    ctx.count("tiering.tieroverride", 2)


def _review(ctx: DemoContext, model: Any) -> None:
    from steelyard.tiering.models import TierReview
    from steelyard.tiering.selectors.customers import recent_periods
    from steelyard.tiering.services.reviews import review_create

    manager = ctx.logins.get("manager")
    if manager is None or TierReview.objects.filter(model=model).exists():
        return
    period = recent_periods(2, timezone.localdate())[1]  # the last full quarter
    review_create(actor=manager, model=model, period=period, conclusion=REVIEW_CONCLUSION)
    ctx.count("tiering.tierreview")


@seeder("tiering", after=("org", "catalog", "customers", "orders"))
def seed_tiering(ctx: DemoContext) -> None:
    """Entered values, a first assessment under the global model, two overrides and a review."""
    from steelyard.tiering.models import TierModel

    model = TierModel.objects.filter(code="global", is_active=True).first()
    if model is None:
        model = TierModel.objects.filter(is_active=True, product_line__isnull=True).first()
    with transaction.atomic():
        _entered_values(ctx)
    if ctx.scale != "S":
        # The benchmark scales keep the audit log at its exact target size (``core.audit``): the story
        # below goes through audited services, so it is the demo scale's only. Assess with the engine.
        ctx.log("  tiering: entered values only at this scale; run an assessment from the tier models page")
        return
    if model is None:
        ctx.log("  tiering: no active global tier model (migration 0002_defaults); skipped")
        return
    _assess(ctx, model)
    with transaction.atomic():
        _overrides(ctx, model)
        _review(ctx, model)
