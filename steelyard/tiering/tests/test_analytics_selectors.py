"""Tier analytics figures on a hand-built example (see ``analytics_world``), checked exactly."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from steelyard.customers.models import Customer
from steelyard.customers.selectors import activities as activity_selectors
from steelyard.customers.testing import make_customer
from steelyard.org.models import User
from steelyard.tiering.models import CustomerTier
from steelyard.tiering.selectors import analytics as sel
from steelyard.tiering.tests.analytics_world import AS_OF, build, fake_visit_frequency, make_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(personas, monkeypatch):
    monkeypatch.setattr(activity_selectors, "visit_frequency_for", fake_visit_frequency)
    return build(personas)


def ctx_for(user, world, **kw):
    return sel.AnalyticsContext(user=user, model=world["model"], period=sel.Period(end=AS_OF), **kw)


def by_tier(figure):
    return {r["tier"]: r for r in figure["tiers"]}


def test_the_period_is_twelve_months_to_the_day_and_the_twelve_before():
    p = sel.Period(end=AS_OF)
    assert (p.start, p.end, p.previous_start, p.previous_end, p.days) == (
        dt.date(2025, 7, 1),
        dt.date(2026, 6, 30),
        dt.date(2024, 7, 1),
        dt.date(2025, 6, 30),
        365,
    )
    assert sel.Period(end=dt.date(2026, 3, 31), months=3).start == dt.date(2026, 1, 1)


def test_distribution_counts_customers_and_revenue_share_per_tier(world, personas):
    d = sel.tier_distribution(ctx_for(personas.alice, world))
    assert [r["tier"] for r in d["tiers"]] == ["strategic", "key", "regular", ""]
    rows = by_tier(d)
    assert {t: r["customers"] for t, r in rows.items()} == {"strategic": 1, "key": 2, "regular": 2, "": 1}
    assert {t: r["revenue"] for t, r in rows.items()} == {
        "strategic": D("4600000.00"),
        "key": D("3000000.00"),
        "regular": D("1400000.00"),
        "": D("1000000.00"),
    }
    # The big-customer contribution: strategic is 16.7 % of the customers and 46 % of the revenue.
    assert rows["strategic"]["customers_pct"] == D("16.7") and rows["strategic"]["revenue_pct"] == D("46.0")
    assert rows["key"]["customers_pct"] == D("33.3") and rows["key"]["revenue_pct"] == D("30.0")
    assert rows["regular"]["revenue_pct"] == D("14.0") and rows[""]["revenue_pct"] == D("10.0")
    assert rows[""]["label"] == "无等级" or rows[""]["label"] == "No tier"
    assert d["total"] == {"customers": 6, "revenue": D("10000000.00")}


def test_growth_compares_this_period_with_the_previous_by_current_tier(world, personas):
    g = sel.tier_growth(ctx_for(personas.alice, world))
    rows = by_tier(g)
    assert (rows["strategic"]["current"], rows["strategic"]["previous"]) == (D("4600000.00"), D("2000000.00"))
    assert rows["strategic"]["change"] == D("2600000.00") and rows["strategic"]["growth_pct"] == D("130.0")
    assert (rows["key"]["current"], rows["key"]["previous"], rows["key"]["growth_pct"]) == (
        D("3000000.00"),
        D("1500000.00"),
        D("100.0"),
    )
    assert rows["regular"]["previous"] == D("0.00") and rows["regular"]["growth_pct"] is None
    assert g["total"] == {
        "current": D("10000000.00"),
        "previous": D("3500000.00"),
        "change": D("6500000.00"),
        "growth_pct": D("185.7"),
    }


def test_retention_is_the_share_of_last_periods_buyers_who_bought_again(world, personas):
    r = sel.tier_retention(ctx_for(personas.alice, world))
    rows = by_tier(r)
    assert {t: (x["buyers_previous"], x["retained"], x["lost"], x["new"]) for t, x in rows.items()} == {
        "strategic": (1, 1, 0, 0),
        "key": (2, 1, 1, 0),
        "regular": (0, 0, 0, 1),
        "": (0, 0, 0, 1),
    }
    assert rows["strategic"]["retention_pct"] == D("100.0") and rows["key"]["retention_pct"] == D("50.0")
    assert rows["regular"]["retention_pct"] is None
    assert r["total"]["retention_pct"] == D("66.7") and r["total"]["new"] == 2


def test_visits_done_against_required_per_tier(world, personas):
    v = sel.tier_visits(ctx_for(personas.alice, world))
    rows = by_tier(v)
    got = {t: (x["customers"], x["planned"], x["required"], x["done"], x["behind"]) for t, x in rows.items()}
    assert got == {
        "strategic": (1, 1, D("12.2"), 10, 1),  # 365/30 = 12.17; 10 done → behind
        "key": (2, 2, D("10.0"), 5, 1),  # 2 × 365/73; A2 did 5 of 5, A3 none
        "regular": (2, 2, D("11.1"), 6, 1),  # 365/73 + 365/60; A4 did 6 of 5, A5 none
        "": (1, 0, D("0.0"), 2, 0),  # no visit plan
    }
    assert rows["strategic"]["done_pct"] == D("82.2")  # 10 / 12.1667, not 10 / 12.2
    assert rows["key"]["done_pct"] == D("50.0") and rows[""]["done_pct"] is None
    assert v["total"]["required"] == D("33.3")  # 33.25 summed exactly, rounded once
    assert v["total"]["done"] == 23 and v["total"]["done_pct"] == D("69.2") and v["days"] == 365


def test_required_frequency_comes_from_the_customers_module_once_per_tier_not_per_customer(
    world, personas, monkeypatch
):
    calls = []

    def counting(customer):
        calls.append((customer.tier, customer.visit_every_days))
        return fake_visit_frequency(customer)

    monkeypatch.setattr(activity_selectors, "visit_frequency_for", counting)
    for _i in range(5):
        make_customer(personas.alice, tier="key")
    v = sel.tier_visits(ctx_for(personas.alice, world))
    assert sorted(calls, key=str) == sorted(
        [("strategic", None), ("key", None), ("regular", 73), ("regular", None), ("", None)], key=str
    )
    assert by_tier(v)["key"]["required"] == D("35.0")  # 7 × 5


def test_visits_use_the_real_visit_frequency_for(personas, monkeypatch):
    """Unpatched: required equals days / visit_frequency_for(customer), whatever decides that."""
    world = build(personas)
    a2 = world["c"]["A2"]
    freq = activity_selectors.visit_frequency_for(Customer.objects.get(pk=a2.pk))
    v = by_tier(sel.tier_visits(ctx_for(personas.alice, world)))
    a4_required = D(365) / D(73)
    if freq:
        # key = A2 + A3, both with the tier's frequency
        assert v["key"]["required"] == (2 * D(365) / D(freq)).quantize(D("0.1"))
    else:
        assert v["key"]["required"] == D("0.0")
    assert v["regular"]["required"] >= a4_required.quantize(D("0.1"))


def test_every_figure_is_scoped_to_the_viewer(world, personas):
    bob = sel.tier_distribution(ctx_for(personas.bob, world))
    assert bob["total"] == {"customers": 7, "revenue": D("11000000.00")}
    assert by_tier(bob)["key"]["customers"] == 3
    charlie = ctx_for(personas.charlie, world)
    d = sel.tier_distribution(charlie)
    assert d["total"] == {"customers": 1, "revenue": D("50000000.00")}
    assert by_tier(d)["strategic"]["revenue_pct"] == D("100.0")
    assert sel.tier_growth(charlie)["total"]["previous"] == D("50000000.00")
    assert sel.tier_retention(charlie)["total"]["retained"] == 1
    assert sel.tier_visits(charlie)["total"]["done"] == 3
    admin = sel.tier_distribution(ctx_for(personas.admin, world))
    assert admin["total"] == {"customers": 8, "revenue": D("61000000.00")}
    assert sel.tier_visits(ctx_for(personas.admin, world))["total"]["done"] == 26


def test_an_org_unit_narrows_the_figures(world, personas):
    d = sel.tier_distribution(ctx_for(personas.admin, world, unit=personas.beijing))
    assert d["total"] == {"customers": 1, "revenue": D("50000000.00")}
    d = sel.tier_distribution(ctx_for(personas.admin, world, unit=personas.east))
    assert d["total"] == {"customers": 7, "revenue": D("11000000.00")}


def test_migration_for_scoped_viewers_comes_from_their_customers_assessments(world, personas):
    m = sel.tier_migration(ctx_for(personas.alice, world))
    assert m["source"] == "assessments"
    assert [r["id"] for r in m["runs"]] == [world["r1"].pk, world["r2"].pk]
    latest = m["runs"][-1]
    assert {(f["from_tier"], f["to_tier"]): f["customers"] for f in latest["flows"]} == {
        ("key", "strategic"): 1,
        ("key", "key"): 1,
        ("strategic", "key"): 1,
        ("", "regular"): 1,
    }
    counts = {c["tier"]: c["customers"] for c in latest["counts"]}
    assert counts == {"strategic": 1, "key": 2, "regular": 1, "": 0}  # "" is there: someone came from it
    assert latest["changed"] == 3 and latest["customers"] == 4
    first = {c["tier"]: c["customers"] for c in m["runs"][0]["counts"]}
    assert first == {"strategic": 1, "key": 2, "regular": 0, "": 0}
    charlie = sel.tier_migration(ctx_for(personas.charlie, world))["runs"][-1]
    assert charlie["flows"] == [{"from_tier": "regular", "to_tier": "strategic", "customers": 1}]


def test_migration_for_viewers_who_see_everything_is_the_runs_stored_matrix(world, personas):
    m = sel.tier_migration(ctx_for(personas.admin, world))
    assert m["source"] == "runs"
    latest = m["runs"][-1]
    flows = {(f["from_tier"], f["to_tier"]): f["customers"] for f in latest["flows"]}
    assert flows[("regular", "strategic")] == 2  # the stored matrix, not the assessments (1)
    counts = {c["tier"]: c["customers"] for c in latest["counts"]}
    assert counts == {"strategic": 2, "key": 2, "regular": 1, "": 0}
    assert len(sel.tier_migration(ctx_for(personas.admin, world, runs=1))["runs"]) == 1


def _names(qs):
    return sorted(c.legal_name[:2] for c in qs)


def test_drilldown_lists_the_customers_behind_each_number(world, personas):
    ctx = ctx_for(personas.alice, world)
    dd = sel.drilldown_customers
    assert _names(dd(ctx, tier="key")) == ["甲三", "甲二"]
    assert _names(dd(ctx, tier="key", metric=sel.M_LOST)) == ["甲三"]
    assert _names(dd(ctx, tier="key", metric=sel.M_RETAINED)) == ["甲二"]
    assert _names(dd(ctx, tier="regular", metric=sel.M_NEW)) == ["甲四"]
    assert _names(dd(ctx, tier="", metric=sel.M_REVENUE)) == ["甲六"]
    assert _names(dd(ctx, metric=sel.M_BEHIND)) == ["甲一", "甲三", "甲五"]
    assert _names(dd(ctx, metric=sel.M_VISITED)) == ["甲一", "甲二", "甲六", "甲四"]
    assert _names(dd(ctx, tier="key", metric=sel.M_MIGRATION, run=world["r2"], from_tier="strategic")) == [
        "甲三"
    ]
    assert _names(dd(ctx, metric=sel.M_MIGRATION)) == []  # a migration needs its run
    row = dd(ctx, tier="strategic").get()
    assert (row.revenue, row.revenue_previous, row.revenue_change) == (
        D("4600000.00"),
        D("2000000.00"),
        D("2600000.00"),
    )
    assert (row.visits_done, row.visit_frequency) == (10, 30)
    assert sel.required_visits(row, 365) == D("12.2")
    assert _names(dd(ctx_for(personas.charlie, world), tier="strategic")) == ["丙一"]
    assert _names(dd(ctx_for(personas.bob, world), tier="key")) == ["乙一", "甲三", "甲二"]


def test_a_product_line_model_uses_its_customer_tiers_and_its_line_revenue(world, personas):
    line_model = make_model("test-crane", product_line=world["product"].product_line)
    c = world["c"]
    for key, tier in (("A1", "key"), ("A2", "strategic")):
        CustomerTier.objects.create(
            customer=c[key], model=line_model, tier=tier, since=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        )
    ctx = sel.AnalyticsContext(user=personas.alice, model=line_model, period=sel.Period(end=AS_OF))
    rows = by_tier(sel.tier_distribution(ctx))
    assert (rows["key"]["customers"], rows["key"]["revenue"]) == (1, D("4600000.00"))
    assert (rows["strategic"]["customers"], rows["strategic"]["revenue"]) == (1, D("3000000.00"))
    assert rows[""]["customers"] == 4 and rows[""]["revenue"] == D("2400000.00")
    assert _names(sel.drilldown_customers(ctx, tier="")) == ["甲三", "甲五", "甲六", "甲四"]
    assert by_tier(sel.tier_retention(ctx))["key"]["retained"] == 1


def test_no_query_per_customer(world, personas):
    def count():
        ctx = ctx_for(User.objects.get(pk=personas.alice.pk), world)  # nothing cached on the user
        with CaptureQueriesContext(connection) as q:
            for fn in (sel.tier_distribution, sel.tier_growth, sel.tier_retention, sel.tier_visits):
                fn(ctx)
            sel.tier_migration(ctx)
            list(sel.drilldown_customers(ctx, metric=sel.M_BEHIND))
        return len(q)

    before = count()
    for i in range(30):
        make_customer(personas.alice, tier=("strategic", "key", "regular")[i % 3])
    assert count() == before
    assert before <= 20
