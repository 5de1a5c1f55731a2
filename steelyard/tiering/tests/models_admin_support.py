"""Arranging tier-model tests: a run with assessments written directly (the engine is tested elsewhere)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils import timezone

from steelyard.customers.testing import make_customer
from steelyard.tiering.models import Assessment, AssessmentRun, CustomerTier, RunStatus, TierModel

DEFAULT_CODE = "global"  # the shipped global model (migration 0002_defaults)


def defaults_migration() -> Any:
    return importlib.import_module("steelyard.tiering.migrations.0002_defaults")


def ensure_defaults() -> None:
    """The shipped defaults, as the data migration made them.

    A test database has them after migrating, but a transactional test (browser tests) flushes every
    table when it ends, so tests that rely on them make sure they are there (the migration is idempotent).
    """
    from django.apps import apps

    defaults_migration().create_defaults(apps, None)


def default_model() -> TierModel:
    model = TierModel.objects.filter(code=DEFAULT_CODE).first()
    if model is None:
        ensure_defaults()
        model = TierModel.objects.get(code=DEFAULT_CODE)
    return model


@dataclass
class RunWorld:
    model: TierModel
    run: AssessmentRun
    customers: dict[str, Any]


# (key, owner persona, previous tier, tier, score)
MOVES = [
    ("a1", "alice", "key", "strategic", "81.00"),
    ("a2", "alice", "regular", "regular", "30.00"),
    ("b1", "bob", "", "key", "55.00"),
    ("c1", "charlie", "key", "strategic", "90.00"),
    ("c2", "charlie", "potential", "regular", "27.50"),
]


def make_run(personas: Any, model: TierModel | None = None) -> RunWorld:
    """A finished run of ``model`` (default: the shipped global model) over five customers."""
    model = model or default_model()
    customers: dict[str, Any] = {}
    migration: dict[str, dict[str, int]] = {}
    run = AssessmentRun.objects.create(
        model=model,
        status=RunStatus.DONE,
        as_of=timezone.localdate(),
        finished_at=timezone.now(),
        triggered_by=personas.admin,
        customers=len(MOVES),
        changed=sum(1 for m in MOVES if m[2] != m[3]),
        duration_ms=12,
    )
    for key, owner, prev, tier, score in MOVES:
        c = make_customer(getattr(personas, owner), name=f"分级客户{key}有限公司")
        customers[key] = c
        Assessment.objects.create(
            run=run,
            customer=c,
            score=Decimal(score),
            computed_tier=tier,
            tier=tier,
            previous_tier=prev,
            factors=[{"code": "revenue_12m", "raw": "1000000", "points": score, "weight": "30"}],
        )
        CustomerTier.objects.create(
            customer=c, model=model, tier=tier, score=Decimal(score), since=timezone.now()
        )
        migration.setdefault(prev, {}).setdefault(tier, 0)
        migration[prev][tier] += 1
    run.migration = migration
    run.save(update_fields=["migration"])
    return RunWorld(model=model, run=run, customers=customers)


def tier_rows(model: TierModel) -> list[dict[str, Any]]:
    return [
        {"code": t.code, "name": t.name, "name_en": t.name_en, "rank": t.rank, "min_score": str(t.min_score)}
        for t in model.tiers.order_by("rank")
    ]


def factor_rows(model: TierModel) -> list[dict[str, Any]]:
    return [
        {
            "code": f.code,
            "weight": str(f.weight),
            "scoring": f.scoring,
            "bands": f.bands,
            "lower": None if f.lower is None else str(f.lower),
            "upper": None if f.upper is None else str(f.upper),
            "higher_is_better": f.higher_is_better,
        }
        for f in model.factors.order_by("-weight", "code")
    ]


def editor_post_data(model: TierModel, **overrides: Any) -> dict[str, Any]:
    """The editor's POST body for ``model`` as saved (tiers/factors formsets, bands as rows)."""
    data: dict[str, Any] = {
        "code": model.code,
        "name": model.name,
        "product_line": model.product_line_id or "",
        "description": model.description,
        "hysteresis_margin": str(model.hysteresis_margin),
        "hysteresis_runs": str(model.hysteresis_runs),
    }
    tiers = tier_rows(model)
    data.update({"tiers-TOTAL_FORMS": str(len(tiers)), "tiers-INITIAL_FORMS": str(len(tiers))})
    data.update({"tiers-MIN_NUM_FORMS": "0", "tiers-MAX_NUM_FORMS": "20"})
    for i, t in enumerate(tiers):
        for k, v in t.items():
            data[f"tiers-{i}-{k}"] = v
    factors = factor_rows(model)
    data.update({"factors-TOTAL_FORMS": str(len(factors)), "factors-INITIAL_FORMS": str(len(factors))})
    data.update({"factors-MIN_NUM_FORMS": "0", "factors-MAX_NUM_FORMS": "20"})
    for i, f in enumerate(factors):
        data[f"factors-{i}-code"] = f["code"]
        data[f"factors-{i}-weight"] = f["weight"]
        data[f"factors-{i}-scoring"] = f["scoring"]
        data[f"factors-{i}-lower"] = f["lower"] or ""
        data[f"factors-{i}-upper"] = f["upper"] or ""
        if f["higher_is_better"]:
            data[f"factors-{i}-higher_is_better"] = "on"
        data[f"factors-{i}-bands-bound"] = [str(b[0]) for b in f["bands"]]
        data[f"factors-{i}-bands-share"] = [str(b[1]) for b in f["bands"]]
    data.update(overrides)
    return data


def factor_index(model: TierModel, code: str) -> int:
    return [f["code"] for f in factor_rows(model)].index(code)


def tier_index(model: TierModel, code: str) -> int:
    return [t["code"] for t in tier_rows(model)].index(code)
