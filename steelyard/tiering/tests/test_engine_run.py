"""Assessment runs: what they write, hysteresis and overrides across runs, previews, jobs, query counts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from steelyard.core.models import AuditLog, Job
from steelyard.customers.models import Customer
from steelyard.customers.testing import make_customer
from steelyard.orders.testing import make_order, make_product, make_product_line
from steelyard.tiering.models import (
    Assessment,
    AssessmentRun,
    CustomerTier,
    EnteredValue,
    Factor,
    RunStatus,
    Scoring,
    Tier,
    TierModel,
)
from steelyard.tiering.selectors.assessment import (
    assessment_factor_rows,
    latest_assessment_id,
    latest_assessments,
)
from steelyard.tiering.services import assessment as engine
from steelyard.tiering.services.assessment import assessment_preview, assessment_run, explain

D = Decimal
AS_OF = dt.date(2026, 6, 30)


def make_model(code: str = "t-global", *, line=None, margin: str = "2", runs: int = 2) -> TierModel:
    """Revenue (bands, weight 60) + strategic fit (linear 0–5, weight 40); tiers strategic 60 / key 30 / regular 0."""
    if line is None:
        TierModel.objects.filter(product_line__isnull=True, is_active=True).update(is_active=False)
    model = TierModel.objects.create(
        code=code, name=code, product_line=line, hysteresis_margin=D(margin), hysteresis_runs=runs
    )
    Tier.objects.create(model=model, code="strategic", name="战略", rank=1, min_score=D("60"))
    Tier.objects.create(model=model, code="key", name="重点", rank=2, min_score=D("30"))
    Tier.objects.create(model=model, code="regular", name="一般", rank=3, min_score=D("0"))
    Factor.objects.create(
        model=model,
        code="revenue_12m",
        weight=D("60"),
        scoring=Scoring.BANDS,
        bands=[[0, 0], [1_000_000, 0.5], [5_000_000, 1]],
    )
    Factor.objects.create(
        model=model, code="strategic_fit", weight=D("40"), scoring=Scoring.LINEAR, lower=D("0"), upper=D("5")
    )
    return model


def fit(customer, value: str) -> None:
    EnteredValue.objects.update_or_create(
        customer=customer, code="strategic_fit", defaults={"value": D(value)}
    )


def buy(customer, amount: str, on: str = "2026-03-01", product=None) -> None:
    make_order(customer, lines=[(product or make_product(), 1, amount)], ordered_on=dt.date.fromisoformat(on))


def tier_of(customer, model) -> CustomerTier:
    return CustomerTier.objects.get(customer=customer, model=model)


def latest_assessment_of(customer, model) -> Assessment | None:
    """The customer's latest assessment under ``model``, as the pages find it."""
    ct = CustomerTier.objects.annotate(latest_assessment_id=latest_assessment_id()).get(
        customer=customer, model=model
    )
    return latest_assessments([ct]).get(ct.pk)


@pytest.fixture
def model(db):
    return make_model()


# --- what a run writes ----------------------------------------------------------------------------


def test_a_run_assesses_every_live_customer_once_and_sets_their_tier(model):
    big, mid, small = make_customer(name="大客户"), make_customer(name="中客户"), make_customer(name="小客户")
    gone = make_customer(name="已合并", merged_into=big)
    buy(big, "6000000")  # 60 points
    buy(mid, "2000000")  # 30
    fit(small, "1")  # 8
    run = assessment_run(model=model, as_of=AS_OF)
    assert run.status == RunStatus.DONE and run.customers == 3 and run.changed == 3
    assert run.migration == {"": {"strategic": 1, "key": 1, "regular": 1}}
    assert run.finished_at is not None and run.as_of == AS_OF
    rows = {a.customer_id: a for a in Assessment.objects.filter(run=run)}
    assert set(rows) == {big.pk, mid.pk, small.pk}
    assert (rows[big.pk].score, rows[big.pk].computed_tier, rows[big.pk].tier) == (
        D("60.00"),
        "strategic",
        "strategic",
    )
    assert (rows[small.pk].score, rows[small.pk].tier, rows[small.pk].previous_tier) == (
        D("8.00"),
        "regular",
        "",
    )
    assert rows[small.pk].factors == [
        {"code": "revenue_12m", "raw": "0.00", "points": "0.00", "weight": "60.00"},
        {"code": "strategic_fit", "raw": "1.0000", "points": "8.00", "weight": "40.00"},
    ]
    ct = tier_of(big, model)
    assert (ct.tier, ct.score, ct.pending_tier, ct.pending_runs) == ("strategic", D("60.00"), "", 0)
    assert latest_assessment_of(big, model) == rows[big.pk]
    tiers = dict(Customer.objects.values_list("pk", "tier"))
    assert (tiers[big.pk], tiers[mid.pk], tiers[small.pk], tiers[gone.pk]) == (
        "strategic",
        "key",
        "regular",
        "",
    )
    assert not CustomerTier.objects.filter(customer=gone).exists()
    log = AuditLog.objects.get(verb=engine.AUDIT_VERB)
    assert log.object_id == str(run.pk) and log.extra["changed"] == 3


def test_a_second_run_without_news_changes_nothing_and_keeps_since(model):
    c = make_customer()
    buy(c, "2000000")
    first = assessment_run(model=model, as_of=AS_OF)
    since = tier_of(c, model).since
    second = assessment_run(model=model, as_of=AS_OF)
    assert second.changed == 0 and second.migration == {"key": {"key": 1}}
    ct = tier_of(c, model)
    assert ct.since == since and latest_assessment_of(c, model).run_id == second.pk
    assert Assessment.objects.filter(customer=c).count() == 2  # history is kept
    assert first.pk != second.pk


def test_a_product_line_model_keeps_its_own_tiers_and_leaves_the_customer_tier_alone(model):
    crane = make_product_line("CRANE")
    line_model = make_model("t-crane", line=crane)
    c = make_customer()
    buy(c, "6000000", product=make_product(line=make_product_line("ENGINE")))
    buy(c, "1000000", product=make_product(line=crane))
    assessment_run(model=model, as_of=AS_OF)
    assessment_run(model=line_model, as_of=AS_OF)
    assert tier_of(c, model).tier == "strategic"  # 7M in all
    assert tier_of(c, line_model).tier == "key"  # 1M of cranes: 30 points
    c.refresh_from_db()
    assert c.tier == "strategic"
    assert CustomerTier.objects.filter(customer=c).count() == 2


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    revenues=st.lists(
        st.sampled_from(["0", "900000", "1000000", "4999999", "5000000", "8000000"]), max_size=6
    ),
    fits=st.lists(st.sampled_from(["0", "0.5", "2.5", "5"]), max_size=6),
)
def test_every_customer_has_exactly_one_tier_per_model_after_runs(model, revenues, fits):
    with transaction.atomic():
        line_model = make_model("t-line", line=make_product_line("LINE"))
        customers = [make_customer() for _ in range(max(len(revenues), len(fits), 1))]
        for c, amount in zip(customers, revenues, strict=False):
            buy(c, amount)
        for c, value in zip(customers, fits, strict=False):
            fit(c, value)
        for m in (model, line_model, model):
            assessment_run(model=m, as_of=AS_OF)
        live = set(Customer.objects.filter(merged_into__isnull=True).values_list("pk", flat=True))
        for m in (model, line_model):
            per_customer = list(CustomerTier.objects.filter(model=m).values_list("customer_id", flat=True))
            assert sorted(per_customer) == sorted(live)
            assert set(CustomerTier.objects.filter(model=m).values_list("tier", flat=True)) <= {
                "strategic",
                "key",
                "regular",
            }
        transaction.set_rollback(True)


# --- hysteresis and overrides across runs -----------------------------------------------------------


def test_hysteresis_holds_a_small_move_until_it_lasts(model):
    c = make_customer()
    fit(c, "3.75")  # 30 points: key
    assessment_run(model=model, as_of=AS_OF)
    since = tier_of(c, model).since
    fit(c, "3.625")  # 29 points: regular by score, but within the margin of 30
    run = assessment_run(model=model, as_of=AS_OF)
    a = Assessment.objects.get(run=run, customer=c)
    assert (a.computed_tier, a.tier, a.previous_tier) == ("regular", "key", "key")
    ct = tier_of(c, model)
    assert (ct.tier, ct.pending_tier, ct.pending_runs, ct.since) == ("key", "regular", 1, since)
    run = assessment_run(model=model, as_of=AS_OF)  # the second run in a row below: it moves
    ct = tier_of(c, model)
    assert (ct.tier, ct.pending_tier, ct.pending_runs) == ("regular", "", 0)
    assert ct.since > since
    assert run.migration == {"key": {"regular": 1}} and run.changed == 1
    c.refresh_from_db()
    assert c.tier == "regular"


def test_a_clear_crossing_moves_at_once(model):
    c = make_customer()
    fit(c, "3.75")
    assessment_run(model=model, as_of=AS_OF)
    fit(c, "3.4")  # 27.2 points: below 30 − 2
    assessment_run(model=model, as_of=AS_OF)
    assert tier_of(c, model).tier == "regular"


def test_an_override_in_force_wins_while_the_assessed_tier_moves_underneath(model):
    c = make_customer()
    buy(c, "6000000")
    assessment_run(model=model, as_of=AS_OF)
    CustomerTier.objects.filter(customer=c, model=model).update(
        override_tier="regular", override_until=AS_OF + dt.timedelta(days=10), override_reason="test"
    )
    run = assessment_run(model=model, as_of=AS_OF)
    a = Assessment.objects.get(run=run, customer=c)
    assert (a.computed_tier, a.tier, a.previous_tier) == ("strategic", "regular", "regular")
    c.refresh_from_db()
    assert c.tier == "regular"
    ct = tier_of(c, model)
    assert (ct.tier, ct.override_tier, ct.override_reason) == ("strategic", "regular", "test")
    # The override ends: the assessed tier is back.
    later = assessment_run(model=model, as_of=AS_OF + dt.timedelta(days=11))
    assert later.migration == {"strategic": {"strategic": 1}}  # judged on that day: no longer in force
    c.refresh_from_db()
    assert c.tier == "strategic"


def test_a_customer_overridden_before_its_first_assessment_counts_as_new(model):
    c = make_customer()
    buy(c, "2000000")
    CustomerTier.objects.create(
        customer=c,
        model=model,
        tier="",
        since=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        override_tier="strategic",
        override_until=AS_OF,
    )
    run = assessment_run(model=model, as_of=AS_OF)
    assert run.migration == {"strategic": {"strategic": 1}} and run.changed == 0
    ct = tier_of(c, model)
    assert (ct.tier, ct.override_tier) == ("key", "strategic")
    c.refresh_from_db()
    assert c.tier == "strategic"


def test_a_tier_row_that_appears_during_the_run_is_updated_keeping_its_override(model, monkeypatch):
    """An override approved while the run computes creates the CustomerTier the run meant to insert."""
    from steelyard.tiering.selectors.assessment import assessment_population

    c = make_customer()
    buy(c, "2000000")

    def before_the_override(model_id):
        rows = assessment_population(model_id)
        CustomerTier.objects.create(
            customer=c,
            model=model,
            tier="",
            since=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            override_tier="strategic",
            override_until=AS_OF,
            override_reason="approved meanwhile",
        )
        return rows

    monkeypatch.setattr(engine, "assessment_population", before_the_override)
    run = assessment_run(model=model, as_of=AS_OF)
    ct = tier_of(c, model)
    assert (ct.tier, ct.override_tier, ct.override_reason) == ("key", "strategic", "approved meanwhile")
    assert latest_assessment_of(c, model) == Assessment.objects.get(run=run, customer=c)
    c.refresh_from_db()
    assert c.tier == "strategic"  # the override read at write time wins


# --- previews ---------------------------------------------------------------------------------------


def _snapshot() -> tuple:
    return (
        AssessmentRun.objects.count(),
        Assessment.objects.count(),
        list(
            CustomerTier.objects.order_by("pk").values_list("tier", "score", "pending_tier", "pending_runs")
        ),
        list(Customer.objects.order_by("pk").values_list("tier", "updated_at")),
        AuditLog.objects.count(),
        Job.objects.count(),
    )


def test_a_preview_writes_nothing_and_counts_what_would_change(model):
    a, b = make_customer(), make_customer()
    buy(a, "2000000")  # 30: key
    fit(b, "5")  # 40: key
    assessment_run(model=model, as_of=AS_OF)
    before = _snapshot()
    with CaptureQueriesContext(connection) as queries:
        same = assessment_preview(model=model, as_of=AS_OF)
        heavier = assessment_preview(model=model, weights={"revenue_12m": D("130")}, as_of=AS_OF)
        lower = assessment_preview(model=model, thresholds={"strategic": "38"}, as_of=AS_OF)
        banded = assessment_preview(model=model, bands={"revenue_12m": [[0, 0], [1_000_000, 1]]}, as_of=AS_OF)
    assert _snapshot() == before
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    assert writes == []
    assert same == {
        "customers": 2,
        "changed": 0,
        "migration": {"key": {"key": 2}},
        "tiers": {"key": 2},
        "by_score": {"changed": 0, "migration": {"key": {"key": 2}}},
    }
    assert heavier["changed"] == 1 and heavier["migration"] == {
        "key": {"strategic": 1, "key": 1}
    }  # 65 points
    assert lower["changed"] == 1 and lower["tiers"] == {"strategic": 1, "key": 1}  # b's 40 ≥ 38 + 2
    # a's 60 points reach strategic by score, within the margin: held for now.
    assert banded["changed"] == 0 and banded["by_score"]["migration"] == {"key": {"strategic": 1, "key": 1}}


def test_a_preview_reports_hysteresis_apart_from_the_tier_by_score(model):
    c = make_customer()
    fit(c, "3.75")  # 30
    assessment_run(model=model, as_of=AS_OF)
    result = assessment_preview(model=model, thresholds={"key": "31"}, as_of=AS_OF)
    assert result["changed"] == 0  # 30 is within the margin of 31: held
    assert result["by_score"] == {"changed": 1, "migration": {"key": {"regular": 1}}}


def test_a_preview_refuses_codes_the_model_does_not_have(model):
    with pytest.raises(ValidationError) as err:
        assessment_preview(
            model=model, weights={"nope": 1}, thresholds={"gold": 1, "key": "x"}, bands={"revenue_12m": "bad"}
        )
    assert set(err.value.message_dict) == {
        "weights.nope",
        "thresholds.gold",
        "thresholds.key",
        "bands.revenue_12m",
    }


def test_a_model_without_tiers_cannot_run(db):
    TierModel.objects.filter(product_line__isnull=True, is_active=True).update(is_active=False)
    empty = TierModel.objects.create(code="empty", name="empty")
    with pytest.raises(ValidationError):
        assessment_run(model=empty)
    assert not AssessmentRun.objects.filter(model=empty).exists()


def test_a_failing_run_is_recorded_with_its_error(model, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("scan failed")

    monkeypatch.setattr(engine, "factor_scan", broken)
    with pytest.raises(RuntimeError):
        assessment_run(model=model, as_of=AS_OF)
    run = AssessmentRun.objects.get(model=model)
    assert run.status == RunStatus.FAILED and "scan failed" in run.error and run.finished_at is not None


# --- explanation --------------------------------------------------------------------------------------


def test_the_explanation_names_each_factor_and_adds_up_to_the_score(model):
    c = make_customer()
    buy(c, "8200000")
    fit(c, "2")
    run = assessment_run(model=model, as_of=AS_OF)
    a = Assessment.objects.get(run=run, customer=c)
    assert explain(a, language="en") == [
        "Revenue, trailing 12 months 8.2M scores 60/60",
        "Strategic fit 2 scores 16/40",
    ]
    zh = explain(a, language="zh-hans")
    assert "820万" in zh[0] and "60/60" in zh[0]
    assert sum((row.points for row in assessment_factor_rows(a)), D("0")) == a.score == D("76.00")
    assert translation.get_language() == "zh-hans"  # the caller's language is left as it was


def test_raw_values_read_as_people_write_them():
    with translation.override("en"):
        assert engine.format_raw("gross_margin", D("0.2345")) == "23.5%"
        assert engine.format_raw("days_late", D("12.5")) == "12.5 days"
        assert engine.format_raw("recency_days", D("1")) == "1 day"
        assert engine.format_raw("purchase_frequency", D("14")) == "14 orders"
        assert engine.format_raw("installed_base", D("1")) == "1 unit"
        assert engine.format_raw("potential", D("1250000000")) == "1.3B"
        assert engine.format_raw("revenue_12m", D("950")) == "950"
        assert engine.format_raw("revenue_growth", None) == "no data"
    assert engine.format_raw("revenue_12m", D("123456789"), "zh-hans") == "1.2亿"


# --- query counts -------------------------------------------------------------------------------------


def _customers(n: int) -> None:
    product = make_product()
    for i in range(n):
        c = make_customer()
        buy(c, str(500_000 * (i % 13)), product=product)
        fit(c, str(i % 6))


def _shake(n: int) -> None:
    """Swing the strategic fit of ``n`` assessed customers by 40 points: they move tier at once."""
    for ev in EnteredValue.objects.filter(code="strategic_fit").order_by("customer_id")[:n]:
        fit(ev.customer, "0" if ev.value >= D("2.5") else "5")


def _nudge(n: int) -> None:
    """Move the strategic fit of the last ``n`` customers by 0.01 (0.08 points): the score changes, the tier
    stays (only rows that change are written, so this is a kind of row of its own)."""
    for ev in EnteredValue.objects.filter(code="strategic_fit").order_by("-customer_id")[:n]:
        fit(ev.customer, str(ev.value + D("0.01") if ev.value < 5 else ev.value - D("0.01")))


def _count(model) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assessment_run(model=model, as_of=AS_OF)
    return len(ctx.captured_queries)


def test_the_queries_of_a_run_do_not_grow_with_the_customers(model, django_assert_max_num_queries):
    _customers(5)
    _count(model)
    # Every kind of customer at once: new ones, ones that move tier, ones whose score alone changes, ones
    # that stay as they were.
    _nudge(1)
    _customers(2)
    _shake(2)
    small = _count(model)
    _nudge(10)
    _customers(45)
    _shake(20)
    with django_assert_max_num_queries(small):
        run = assessment_run(model=model, as_of=AS_OF)
    assert run.customers == 52 and run.changed >= 20
