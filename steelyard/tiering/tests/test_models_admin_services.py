"""Tier-model services: administrators only, audited; tiers, factors and bands validated as sets with
errors keyed to the exact row and field; one active model per product line and one global."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from steelyard.core.models import AuditLog
from steelyard.orders.testing import make_product_line
from steelyard.tiering.models import Factor, Tier, TierModel
from steelyard.tiering.services import models_admin as svc
from steelyard.tiering.tests.models_admin_support import (
    default_model,
    ensure_defaults,
    factor_rows,
    make_run,
    tier_rows,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _shipped_defaults(db):
    ensure_defaults()


TIERS = [
    {"code": "a", "name": "甲", "rank": 1, "min_score": "60"},
    {"code": "b", "name": "乙", "rank": 2, "min_score": "30"},
    {"code": "c", "name": "丙", "rank": 3, "min_score": "0"},
]
FACTORS = [
    {
        "code": "revenue_12m",
        "weight": "60",
        "scoring": "bands",
        "bands": [[0, 0], [1000000, 0.5], [5000000, 1]],
    },
    {"code": "strategic_fit", "weight": "40", "scoring": "linear", "lower": "0", "upper": "5"},
]


def _errors(exc_info) -> dict[str, list[str]]:
    return exc_info.value.message_dict


def _model(admin, code="m1", **kw):
    return svc.tier_model_create(actor=admin, code=code, name="测试模型", tiers=TIERS, factors=FACTORS, **kw)


# --- permissions and audit ------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["alice", "bob", "charlie", "dora"])
def test_only_administrators_may_change_models(personas, who):
    user = getattr(personas, who)
    model = default_model()
    with pytest.raises(PermissionDenied):
        svc.tier_model_create(actor=user, code="x", name="x")
    with pytest.raises(PermissionDenied):
        svc.tier_model_update(actor=user, model=model, name="改名")
    with pytest.raises(PermissionDenied):
        svc.tier_model_set_tiers(actor=user, model=model, tiers=TIERS)
    with pytest.raises(PermissionDenied):
        svc.tier_model_set_factors(actor=user, model=model, factors=FACTORS)
    with pytest.raises(PermissionDenied):
        svc.tier_model_deactivate(actor=user, model=model)
    with pytest.raises(PermissionDenied):
        svc.assessment_run_start(actor=user, model=model)
    assert TierModel.objects.get(pk=model.pk).is_active
    assert TierModel.objects.filter(code="x").count() == 0


def test_create_writes_the_model_tiers_and_factors_and_audits_them(personas):
    model = _model(personas.admin)
    assert not model.is_active  # a new model starts inactive
    assert list(Tier.objects.filter(model=model).values_list("code", "rank", "min_score")) == [
        ("a", 1, Decimal("60.00")),
        ("b", 2, Decimal("30.00")),
        ("c", 3, Decimal("0.00")),
    ]
    revenue = Factor.objects.get(model=model, code="revenue_12m")
    assert revenue.bands == [[0, 0], [1000000, 0.5], [5000000, 1]]
    fit = Factor.objects.get(model=model, code="strategic_fit")
    assert (fit.scoring, fit.lower, fit.upper) == ("linear", Decimal("0"), Decimal("5"))
    verbs = set(AuditLog.objects.filter(object_id=str(model.pk)).values_list("verb", flat=True))
    assert {svc.VERB_TIERS, svc.VERB_FACTORS} <= verbs
    assert AuditLog.objects.filter(object_id=str(model.pk), action="create", actor=personas.admin).exists()


def test_set_tiers_audits_before_and_after(personas):
    model = _model(personas.admin)
    new = [dict(t) for t in TIERS]
    new[0]["min_score"] = "70"
    svc.tier_model_set_tiers(actor=personas.admin, model=model, tiers=new)
    entry = AuditLog.objects.filter(object_id=str(model.pk), verb=svc.VERB_TIERS).order_by("-id").first()
    before, after = entry.changes["tiers"]
    assert before[0]["min_score"] == "60.00" and after[0]["min_score"] == "70.00"
    # The same set again changes nothing and writes no audit row.
    n = AuditLog.objects.filter(verb=svc.VERB_TIERS).count()
    svc.tier_model_set_tiers(actor=personas.admin, model=model, tiers=new)
    assert AuditLog.objects.filter(verb=svc.VERB_TIERS).count() == n


# --- validation: tiers ----------------------------------------------------------------------------


def _tiers(**changes):
    rows = [dict(t) for t in TIERS]
    for key, value in changes.items():
        i, field = key.split("__")
        rows[int(i)][field] = value
    return rows


@pytest.mark.parametrize(
    ("rows", "path"),
    [
        (_tiers(**{"1__min_score": "60"}), "tiers.1.min_score"),  # not strictly decreasing
        (_tiers(**{"1__min_score": "75"}), "tiers.1.min_score"),  # above the tier above
        (_tiers(**{"2__min_score": "5"}), "tiers.2.min_score"),  # worst tier not at 0
        (_tiers(**{"1__rank": "1"}), "tiers.1.rank"),  # rank repeated
        (_tiers(**{"2__rank": "5"}), "tiers.2.rank"),  # gap in ranks
        (_tiers(**{"0__rank": "0"}), "tiers.0.rank"),
        (_tiers(**{"0__rank": "x"}), "tiers.0.rank"),
        (_tiers(**{"1__code": "a"}), "tiers.1.code"),  # code repeated
        (_tiers(**{"1__code": "b b"}), "tiers.1.code"),  # not a slug
        (_tiers(**{"1__code": ""}), "tiers.1.code"),
        (_tiers(**{"1__name": ""}), "tiers.1.name"),
        (_tiers(**{"0__min_score": "abc"}), "tiers.0.min_score"),
        (_tiers(**{"0__min_score": "-1"}), "tiers.0.min_score"),
        (_tiers(**{"0__min_score": "NaN"}), "tiers.0.min_score"),
        ([], "tiers"),
    ],
)
def test_bad_tiers_are_field_errors(personas, rows, path):
    model = default_model()
    before = tier_rows(model)
    with pytest.raises(ValidationError) as exc:
        svc.tier_model_set_tiers(actor=personas.admin, model=model, tiers=rows)
    assert path in _errors(exc), _errors(exc)
    assert tier_rows(model) == before  # nothing written


def test_tiers_may_come_in_any_order_and_are_sorted_by_rank(personas):
    model = _model(personas.admin)
    svc.tier_model_set_tiers(actor=personas.admin, model=model, tiers=list(reversed(TIERS)))
    assert list(model.tiers.order_by("rank").values_list("code", flat=True)) == ["a", "b", "c"]


# --- validation: factors and bands ----------------------------------------------------------------


def _factors(**changes):
    rows = [dict(f) for f in FACTORS]
    for key, value in changes.items():
        i, field = key.split("__")
        rows[int(i)][field] = value
    return rows


@pytest.mark.parametrize(
    ("rows", "path"),
    [
        (_factors(**{"0__weight": "-1"}), "factors.0.weight"),
        (_factors(**{"0__weight": "heavy"}), "factors.0.weight"),
        (_factors(**{"0__weight": "0", "1__weight": "0"}), "factors"),  # nothing weighs anything
        (_factors(**{"0__code": "shoe_size"}), "factors.0.code"),
        (_factors(**{"1__code": "revenue_12m"}), "factors.1.code"),  # twice
        (_factors(**{"0__bands": [[0, 0], [5, 0.5], [5, 1]]}), "factors.0.bands.2"),  # not ascending
        (_factors(**{"0__bands": [[0, 0], [10, 0.5], [5, 1]]}), "factors.0.bands.2"),
        (_factors(**{"0__bands": [[0, 1.5]]}), "factors.0.bands.0"),  # share above 1
        (_factors(**{"0__bands": [[0, -0.1]]}), "factors.0.bands.0"),
        (_factors(**{"0__bands": [[0]]}), "factors.0.bands.0"),  # not a pair
        (_factors(**{"0__bands": [["x", 0.5]]}), "factors.0.bands.0"),
        (_factors(**{"0__bands": "0:1"}), "factors.0.bands"),
        (_factors(**{"0__bands": []}), "factors.0.bands"),  # bands scoring without bands
        (_factors(**{"1__lower": "5", "1__upper": "5"}), "factors.1.upper"),  # linear needs lower < upper
        (_factors(**{"1__lower": "6", "1__upper": "5"}), "factors.1.upper"),
        (_factors(**{"1__upper": None}), "factors.1.upper"),
        (_factors(**{"1__lower": "low"}), "factors.1.lower"),
        (_factors(**{"1__scoring": "vibes"}), "factors.1.scoring"),
        ([], "factors"),
    ],
)
def test_bad_factors_are_field_errors(personas, rows, path):
    model = default_model()
    before = factor_rows(model)
    with pytest.raises(ValidationError) as exc:
        svc.tier_model_set_factors(actor=personas.admin, model=model, factors=rows)
    assert path in _errors(exc), _errors(exc)
    assert factor_rows(model) == before


def test_bands_are_stored_as_numbers_and_decimals_survive(personas):
    model = _model(personas.admin)
    rows = _factors(**{"0__bands": [["-0.5", "0"], ["0", "0.25"], ["0.15", "1"]]})
    svc.tier_model_set_factors(actor=personas.admin, model=model, factors=rows)
    assert Factor.objects.get(model=model, code="revenue_12m").bands == [[-0.5, 0], [0, 0.25], [0.15, 1]]


def test_model_fields_are_validated(personas):
    admin = personas.admin
    with pytest.raises(ValidationError) as exc:
        svc.tier_model_create(
            actor=admin, code="global", name="", hysteresis_margin="-1", hysteresis_runs="0"
        )
    errors = _errors(exc)
    assert {"code", "name", "hysteresis_margin", "hysteresis_runs"} <= set(errors)
    with pytest.raises(ValidationError) as exc:
        svc.tier_model_update(actor=admin, model=default_model(), hysteresis_margin="many")
    assert "hysteresis_margin" in _errors(exc)


# --- activation --------------------------------------------------------------------------------------


def test_one_active_global_model_is_a_clear_error(personas):
    model = _model(personas.admin)
    with pytest.raises(ValidationError) as exc:
        svc.tier_model_activate(actor=personas.admin, model=model)
    assert "客户分级（全局）" in " ".join(_errors(exc)["is_active"])
    assert not TierModel.objects.get(pk=model.pk).is_active
    # After deactivating the default, the new one can be activated (audited both ways).
    svc.tier_model_deactivate(actor=personas.admin, model=default_model())
    svc.tier_model_activate(actor=personas.admin, model=model)
    assert TierModel.objects.get(pk=model.pk).is_active
    assert AuditLog.objects.filter(verb=svc.VERB_ACTIVATE, object_id=str(model.pk)).exists()
    assert AuditLog.objects.filter(verb=svc.VERB_DEACTIVATE, object_id=str(default_model().pk)).exists()


def test_one_active_model_per_product_line(personas):
    cranes = make_product_line("CRANE", name="起重机")
    first = svc.tier_model_copy(actor=personas.admin, source=default_model(), product_line=cranes)
    second = svc.tier_model_copy(actor=personas.admin, source=default_model(), product_line=cranes)
    assert first.code != second.code
    svc.tier_model_activate(actor=personas.admin, model=first)
    with pytest.raises(ValidationError) as exc:
        svc.tier_model_activate(actor=personas.admin, model=second)
    assert "起重机" in " ".join(_errors(exc)["is_active"])
    # A line's model does not conflict with the global one.
    assert default_model().is_active and TierModel.objects.get(pk=first.pk).is_active


def test_moving_an_active_model_onto_a_line_with_an_active_model_is_an_error(personas):
    cranes = make_product_line("CRANE", name="起重机")
    engines = make_product_line("ENGINE", name="发动机")
    a = svc.tier_model_copy(actor=personas.admin, source=default_model(), product_line=cranes)
    b = svc.tier_model_copy(actor=personas.admin, source=default_model(), product_line=engines)
    svc.tier_model_activate(actor=personas.admin, model=a)
    svc.tier_model_activate(actor=personas.admin, model=b)
    with pytest.raises(ValidationError) as exc:
        svc.tier_model_update(actor=personas.admin, model=b, product_line=cranes)
    assert "product_line" in _errors(exc)
    assert TierModel.objects.get(pk=b.pk).product_line_id == engines.pk


def test_a_model_without_weighted_factors_cannot_be_activated(personas):
    svc.tier_model_deactivate(actor=personas.admin, model=default_model())
    bare = svc.tier_model_create(actor=personas.admin, code="bare", name="空模型")
    with pytest.raises(ValidationError) as exc:
        svc.tier_model_activate(actor=personas.admin, model=bare)
    assert "is_active" in _errors(exc)


# --- copy, delete, run ---------------------------------------------------------------------------------


def test_copy_for_a_product_line_copies_the_configuration(personas):
    cranes = make_product_line("CRANE", name="起重机")
    source = default_model()
    copy = svc.tier_model_copy(actor=personas.admin, source=source, product_line=cranes)
    assert copy.product_line == cranes and not copy.is_active
    assert copy.code == "global-crane"
    assert "起重机" in copy.name
    assert tier_rows(copy) == tier_rows(source)
    assert factor_rows(copy) == factor_rows(source)
    assert (copy.hysteresis_margin, copy.hysteresis_runs) == (
        source.hysteresis_margin,
        source.hysteresis_runs,
    )
    assert AuditLog.objects.filter(verb=svc.VERB_COPY, object_id=str(copy.pk)).exists()


def test_delete_only_inactive_models_without_runs(personas):
    with pytest.raises(ValidationError):
        svc.tier_model_delete(actor=personas.admin, model=default_model())  # active
    model = _model(personas.admin)
    make_run(personas, model)
    with pytest.raises(ValidationError):
        svc.tier_model_delete(actor=personas.admin, model=model)  # has runs
    fresh = _model(personas.admin, code="m2")
    pk = fresh.pk
    svc.tier_model_delete(actor=personas.admin, model=fresh)
    assert not TierModel.objects.filter(code="m2").exists()
    assert not Tier.objects.filter(model_id=pk).exists()
    assert AuditLog.objects.filter(action="delete", object_id=str(pk)).exists()


def test_an_inactive_model_cannot_be_run(personas):
    model = _model(personas.admin)
    with pytest.raises(ValidationError):
        svc.assessment_run_start(actor=personas.admin, model=model)


def test_warnings_name_a_tier_nobody_can_reach(personas):
    rows = _tiers(**{"0__min_score": "150"})
    warnings = svc.config_warnings(svc.clean_tiers(rows), svc.clean_factors(FACTORS))
    assert len(warnings) == 1 and "甲" in warnings[0] and "100" in warnings[0]
    assert svc.config_warnings(svc.clean_tiers(TIERS), svc.clean_factors(FACTORS)) == []
