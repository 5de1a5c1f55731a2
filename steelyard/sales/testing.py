"""Test helpers for the sales module (plain ORM, for arranging a test; the forecast cells are kept).

``make_playbook`` builds the standard six-stage process used across the sales tests::

    qualify (10%, pipeline) → needs (20%, pipeline) → proposal (40%, best case)
    → negotiation (70%, commit) → won (100%, closed won) | lost (0%, closed lost)

with checklist items: *needs* requires the decision-makers (field) and a key task "现场调研";
*proposal* requires a quote (field) and a technical proposal document; *negotiation* has an optional task.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

from django.utils import timezone

from steelyard.catalog.models import ProductLine
from steelyard.orders.testing import make_product_line
from steelyard.sales.models import (
    ForecastCategory,
    ItemKind,
    Opportunity,
    OpportunityMember,
    OpportunityStatus,
    Playbook,
    PlaybookItem,
    PlaybookStage,
    PlaybookStatus,
    StageVisit,
    TeamRole,
)
from steelyard.sales.services.forecast import forecast_cells_apply, opportunity_figures, weighted
from steelyard.sales.services.funnel import funnel_backfill

_seq = itertools.count(1)

STANDARD_STAGES = [
    # code, name, name_en, probability, category, stall_days, won, lost
    ("qualify", "线索确认", "Qualify", "10", ForecastCategory.PIPELINE, 30, False, False),
    ("needs", "需求分析", "Needs analysis", "20", ForecastCategory.PIPELINE, 30, False, False),
    ("proposal", "方案报价", "Proposal", "40", ForecastCategory.BEST_CASE, 21, False, False),
    ("negotiation", "商务谈判", "Negotiation", "70", ForecastCategory.COMMIT, 14, False, False),
    ("won", "赢单", "Closed won", "100", ForecastCategory.CLOSED_WON, None, True, False),
    ("lost", "输单", "Closed lost", "0", ForecastCategory.CLOSED_LOST, None, False, True),
]


def make_playbook(
    line: ProductLine | None = None,
    *,
    version: int = 1,
    status: str = PlaybookStatus.ACTIVE,
    items: bool = True,
) -> Playbook:
    """A playbook with the standard stages (module docstring) for ``line`` (None: the default playbook)."""
    playbook = Playbook.objects.create(
        product_line=line,
        name=f"{line.name if line else '默认'}销售流程",
        version=version,
        status=status,
        activated_at=timezone.now() if status == PlaybookStatus.ACTIVE else None,
    )
    for order, (code, name, name_en, prob, cat, stall, won, lost) in enumerate(STANDARD_STAGES, start=1):
        stage = PlaybookStage.objects.create(
            playbook=playbook,
            code=code,
            name=name,
            name_en=name_en,
            order=order,
            probability=Decimal(prob),
            forecast_category=cat,
            stall_days=stall,
            is_won=won,
            is_lost=lost,
        )
        if not items:
            continue
        if code == "needs":
            PlaybookItem.objects.create(
                stage=stage,
                kind=ItemKind.FIELD,
                field="decision_makers",
                label="关键决策人",
                label_en="Decision-makers",
                required=True,
                order=1,
            )
            PlaybookItem.objects.create(
                stage=stage,
                kind=ItemKind.TASK,
                label="现场调研",
                label_en="Site survey",
                required=True,
                order=2,
            )
        elif code == "proposal":
            PlaybookItem.objects.create(
                stage=stage,
                kind=ItemKind.FIELD,
                field="quote",
                label="报价单",
                label_en="Quote",
                required=True,
                order=1,
            )
            PlaybookItem.objects.create(
                stage=stage,
                kind=ItemKind.DOCUMENT,
                label="技术方案",
                label_en="Technical proposal",
                required=True,
                order=2,
            )
        elif code == "negotiation":
            PlaybookItem.objects.create(
                stage=stage,
                kind=ItemKind.TASK,
                label="高层拜访",
                label_en="Executive visit",
                required=False,
                order=1,
            )
    return playbook


def stage_of(playbook: Playbook, code: str) -> PlaybookStage:
    return playbook.stages.get(code=code)


def make_opportunity(
    owner: Any,
    *,
    customer: Any = None,
    line: ProductLine | None = None,
    playbook: Playbook | None = None,
    stage: str = "qualify",
    amount: str | Decimal = "1000000",
    close: dt.date | None = None,
    status: str | None = None,
    closed_on: dt.date | None = None,
    name: str | None = None,
    entered_at: dt.datetime | None = None,
    **kw: Any,
) -> Opportunity:
    """An opportunity in ``stage`` (won / lost stages close it), with one stage visit, the owner as a
    team member and its forecast cell counted. The customer defaults to a new one owned by ``owner``."""
    from steelyard.customers.testing import make_customer

    line = line or (
        playbook.product_line
        if playbook and playbook.product_line
        else make_product_line("CRANE", name="起重机")
    )
    if playbook is None:
        playbook = (
            Playbook.objects.filter(product_line=line, status=PlaybookStatus.ACTIVE).first()
            or Playbook.objects.filter(product_line__isnull=True, status=PlaybookStatus.ACTIVE).first()
            or make_playbook(line)
        )
    st = stage_of(playbook, stage)
    if status is None:
        status = (
            OpportunityStatus.WON
            if st.is_won
            else OpportunityStatus.LOST
            if st.is_lost
            else OpportunityStatus.OPEN
        )
    now = entered_at or timezone.now()
    close = close or (timezone.localdate() + dt.timedelta(days=60))
    if status != OpportunityStatus.OPEN and closed_on is None:
        closed_on = close
    amount = Decimal(str(amount))
    n = next(_seq)
    category = kw.pop("forecast_category", st.forecast_category)
    probability = Decimal(kw.pop("probability", st.probability))
    opp = Opportunity.objects.create(
        number=kw.pop("number", f"OPP-T-{n:06d}"),
        name=name or f"商机{n}",
        customer=customer or make_customer(owner),
        product_line=line,
        playbook=playbook,
        stage=st,
        status=status,
        probability=probability,
        forecast_category=category,
        amount=amount,
        weighted_amount=weighted(amount, probability),
        expected_close_date=close,
        closed_on=closed_on,
        owner=owner,
        org_unit=kw.pop("org_unit", getattr(owner, "org_unit", None)),
        stage_entered_at=now,
        last_activity_at=kw.pop("last_activity_at", now),
        furthest_order=None if st.is_lost else st.order,
        created_by=owner,
        **kw,
    )
    OpportunityMember.objects.create(opportunity=opp, user=owner, role=TeamRole.OWNER)
    StageVisit.objects.create(opportunity=opp, stage=st, entered_at=now, entered_by=owner)
    forecast_cells_apply(None, opportunity_figures(opp))
    return opp


def add_stage_visit(
    opp: Opportunity,
    stage: PlaybookStage,
    *,
    entered_at: dt.datetime,
    left_at: dt.datetime | None = None,
    entered_by: Any = None,
) -> StageVisit:
    """A stay in the deal's stage history written by hand (tests); ``furthest_order`` follows it."""
    visit = StageVisit.objects.create(
        opportunity=opp, stage=stage, entered_at=entered_at, left_at=left_at, entered_by=entered_by
    )
    funnel_backfill([opp.pk])
    return visit
