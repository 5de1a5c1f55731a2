"""Rows for the customer-tier tests: assessments and customer tiers written directly (the engine's job)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.utils import timezone

from steelyard.customers.testing import make_customer, make_pool
from steelyard.tiering.models import Assessment, AssessmentRun, CustomerTier, RunStatus, Tier, TierModel

FACTORS = [
    {"code": "revenue_12m", "raw": "8200000", "points": "12", "weight": "30"},
    {"code": "gross_margin", "raw": "0.22", "points": "6", "weight": "10"},
    {"code": "strategic_fit", "raw": "4", "points": "4", "weight": "5"},
]


def global_model() -> TierModel:
    """The shipped global model (migration 0002_defaults): 战略 ≥75, 重点 ≥50, 一般 ≥25, 潜在 ≥0."""
    model = TierModel.objects.filter(code="global").first()
    if model is None:  # a database built without the data migration
        model = TierModel.objects.create(code="global", name="客户分级（全局）")
        for code, name, en, rank, score in (
            ("strategic", "战略", "Strategic", 1, 75),
            ("key", "重点", "Key", 2, 50),
            ("regular", "一般", "Regular", 3, 25),
            ("potential", "潜在", "Potential", 4, 0),
        ):
            Tier.objects.create(model=model, code=code, name=name, name_en=en, rank=rank, min_score=score)
    return model


def make_run(
    model: TierModel, *, as_of: dt.date | None = None, migration: dict | None = None
) -> AssessmentRun:
    return AssessmentRun.objects.create(
        model=model,
        as_of=as_of or timezone.localdate(),
        status=RunStatus.DONE,
        finished_at=timezone.now(),
        migration=migration or {},
    )


def assess(
    customer: Any,
    model: TierModel,
    *,
    score: str,
    tier: str,
    previous: str = "",
    run: AssessmentRun | None = None,
    pending: str = "",
    pending_runs: int = 0,
    factors: list[dict] | None = None,
) -> CustomerTier:
    """One assessment of ``customer`` in ``run`` (a new run by default) and its CustomerTier updated."""
    run = run or make_run(model)
    Assessment.objects.create(
        run=run,
        customer=customer,
        score=Decimal(score),
        computed_tier=pending or tier,
        tier=tier,
        previous_tier=previous,
        factors=factors if factors is not None else FACTORS,
    )
    ct, _created = CustomerTier.objects.update_or_create(
        customer=customer,
        model=model,
        defaults={
            "tier": tier,
            "score": Decimal(score),
            "since": timezone.now() - dt.timedelta(days=40),
            "pending_tier": pending,
            "pending_runs": pending_runs,
        },
    )
    if model.product_line_id is None:
        customer.tier = tier
        customer.save(update_fields=["tier"])
    return ct


def make_world(personas: Any) -> dict[str, Any]:
    model = global_model()
    pool = make_pool(personas.team_a, members=[personas.alice])
    own = make_customer(personas.alice, name="爱丽丝重工有限公司", status="active")
    own2 = make_customer(personas.alice, name="爱丽丝港机有限公司", status="active")
    pooled = make_customer(None, name="公海起重有限公司", pool=pool)
    other = make_customer(personas.charlie, name="查理动力有限公司", status="active")
    run = make_run(model)
    assess(
        own, model, score="48.0", tier="regular", previous="regular", run=run, pending="key", pending_runs=1
    )
    assess(own2, model, score="30", tier="regular", previous="potential", run=run)
    assess(other, model, score="80", tier="strategic", run=run)
    return {
        "model": model,
        "own": own,
        "own2": own2,
        "pooled": pooled,
        "other": other,
        "run": run,
        "pool": pool,
    }
