"""The shipped defaults (migration 0002_defaults): the global model "客户分级（全局）" and the strategy menu v1;
idempotent, reversible (reverse deletes what it created), run against the migration's historical models."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from steelyard.tiering.models import (
    Factor,
    FactorCode,
    StrategyMenu,
    StrategyRule,
    Tier,
    TierModel,
)
from steelyard.tiering.tests.models_admin_support import defaults_migration, make_run

pytestmark = pytest.mark.django_db
MIGRATION = ("tiering", "0002_defaults")


@pytest.fixture
def state_apps():
    """The models as this migration sees them (the historical state), like ``migrate`` does."""
    executor = MigrationExecutor(connection)
    return executor.loader.project_state(MIGRATION, at_end=True).apps


@pytest.fixture
def fresh(state_apps):
    """Start from nothing shipped: reverse the migration's data (as ``migrate tiering 0001`` would)."""
    defaults_migration().delete_defaults(state_apps, None)
    assert not TierModel.objects.filter(code="global").exists()
    assert not StrategyMenu.objects.filter(version=1).exists()
    return state_apps


def test_the_migration_is_registered_and_reversible():
    executor = MigrationExecutor(connection)
    migration = executor.loader.get_migration(*MIGRATION)
    assert all(op.reversible for op in migration.operations)
    assert ("tiering", "0001_initial") in migration.dependencies


def test_it_creates_the_global_model(fresh):
    defaults_migration().create_defaults(fresh, None)
    model = TierModel.objects.get(code="global")
    assert model.name == "客户分级（全局）" and model.product_line_id is None and model.is_active
    assert (model.hysteresis_margin, model.hysteresis_runs) == (Decimal("2"), 2)
    tiers = list(
        Tier.objects.filter(model=model).order_by("rank").values_list("code", "name", "rank", "min_score")
    )
    assert [t[:3] for t in tiers] == [
        ("strategic", "战略", 1),
        ("key", "重点", 2),
        ("regular", "一般", 3),
        ("potential", "潜在", 4),
    ]
    scores = [t[3] for t in tiers]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 4 and scores[-1] == 0
    factors = {f.code: f for f in Factor.objects.filter(model=model)}
    assert set(factors) == set(FactorCode.values)
    assert sum(f.weight for f in factors.values()) == Decimal("100")
    revenue = factors["revenue_12m"]
    assert revenue.bands[0] == [0, 0] and [50_000_000, 1] in revenue.bands  # CNY, bands in millions
    assert not factors["days_late"].higher_is_better and not factors["recency_days"].higher_is_better
    # Every shipped setting passes the editor's own rules.
    from steelyard.tiering.services import models_admin as svc

    svc.clean_tiers(svc.tiers_of(model))
    svc.clean_factors(svc.factors_of(model))
    assert svc.config_warnings(svc.tiers_of(model), svc.factors_of(model)) == []


def test_it_creates_the_strategy_menu_v1(fresh):
    defaults_migration().create_defaults(fresh, None)
    menu = StrategyMenu.objects.get(version=1)
    assert (
        menu.status == "active" and menu.effective_from == dt.date(2026, 1, 1) and menu.effective_to is None
    )
    rules = {r.tier: r for r in StrategyRule.objects.filter(menu=menu)}
    assert set(rules) == {"strategic", "key", "regular", "potential", ""}
    assert all(r.product_line_id is None for r in rules.values())
    order = ["strategic", "key", "regular", "potential", ""]
    assert [rules[t].max_discount_pct for t in order] == [Decimal(x) for x in ("15", "10", "5", "3", "3")]
    assert [rules[t].delivery_priority for t in order[:4]] == [1, 2, 3, 4]
    assert [rules[t].visit_every_days for t in order[:4]] == [14, 30, 60, 90]
    assert [rules[t].visitor_seniority for t in order[:4]] == ["director", "manager", "rep", "rep"]
    assert [rules[t].response_hours for t in order[:4]] == [4, 8, 24, 48]
    assert [rules[t].resolution_hours for t in order[:4]] == [24, 48, 72, 120]
    assert [rules[t].pool_recycle_days for t in order] == [180, 120, 60, 30, 30]
    assert all(r.approval_chain and r.entitlements and r.escalate_after_days for r in rules.values())
    assert rules["strategic"].credit_limit > rules["key"].credit_limit > rules["regular"].credit_limit
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in e) for r in rules.values() for e in r.entitlements)


def test_running_it_twice_changes_nothing(fresh):
    mig = defaults_migration()
    mig.create_defaults(fresh, None)
    counts = (
        TierModel.objects.count(),
        Tier.objects.count(),
        Factor.objects.count(),
        StrategyRule.objects.count(),
    )
    mig.create_defaults(fresh, None)
    assert (
        TierModel.objects.count(),
        Tier.objects.count(),
        Factor.objects.count(),
        StrategyRule.objects.count(),
    ) == counts


def test_reverse_deletes_what_it_created_and_nothing_else(fresh):
    mig = defaults_migration()
    mig.create_defaults(fresh, None)
    mine = TierModel.objects.create(code="mine", name="我的模型", is_active=False)
    other_menu = StrategyMenu.objects.create(name="草稿", version=2, effective_from=dt.date(2027, 1, 1))
    mig.delete_defaults(fresh, None)
    assert not TierModel.objects.filter(code="global").exists()
    assert not Tier.objects.filter(model__code="global").exists()
    assert not StrategyMenu.objects.filter(version=1).exists()
    assert not StrategyRule.objects.filter(menu__version=1).exists()
    assert (
        TierModel.objects.filter(pk=mine.pk).exists()
        and StrategyMenu.objects.filter(pk=other_menu.pk).exists()
    )


def test_an_existing_active_global_model_keeps_its_place(fresh):
    TierModel.objects.create(code="ours", name="自定义全局", is_active=True)
    defaults_migration().create_defaults(fresh, None)
    assert not TierModel.objects.get(code="global").is_active
    assert TierModel.objects.get(code="ours").is_active


def test_reverse_keeps_a_model_that_has_runs(fresh, personas):
    defaults_migration().create_defaults(fresh, None)
    make_run(personas)
    defaults_migration().delete_defaults(fresh, None)
    assert TierModel.objects.filter(code="global").exists()  # its history is kept
    assert not StrategyMenu.objects.filter(version=1).exists()
