"""The funnel's figures against a hand-built example, and the drill-downs selecting exactly what they count.

The example (``world``), all alice's, period 2026-01-01 – 2026-06-30, created on day D = 2026-02-01:

=====  ======  ============  ==============================================  ===========
deal   amount  status        stage history (days after D)                    created
=====  ======  ============  ==============================================  ===========
A      100     open, nego.   qualify 0–5, needs 5–15, proposal 15–35, nego.  D
B      200     open, needs   qualify 0–10, needs 10–                         D
C      300     won (D+30)    qualify 0–4, proposal 4–24 (needs skipped),     D
                             negotiation 24–30, won 30–
D      400     lost (D+20)   qualify 0–6, needs 6–20, lost 20–               D
E      50      open, qualify qualify 0–                                      D
G      500     won (D+10)    qualify, won                                    D − 40 (before the period)
=====  ======  ============  ==============================================  ===========

Plus charlie's deal H (open, qualify, created D), which alice and bob never see.

Reached (A–E): qualify 5, needs 4 (C skipped it), proposal 2, negotiation 2, won 1 → conversion
80%, 50%, 100%, 50%. Velocity (completed stays): qualify (5+10+4+6)/4 = 6.25 → 6.3 days, needs
(10+14)/2 = 12, proposal (20+20)/2 = 20, negotiation 6. Closed in the period: C and G won, D lost →
win rate 66.7%, cycle (30 + 50)/2 = 40 days.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.utils import timezone

from steelyard.orders.testing import make_product_line
from steelyard.sales.models import Opportunity, StageVisit
from steelyard.sales.selectors import pipeline as sel
from steelyard.sales.testing import add_stage_visit, make_opportunity, make_playbook, stage_of

D = dt.date(2026, 2, 1)
PERIOD = {"date_from": "2026-01-01", "date_to": "2026-06-30"}


def at(day: dt.date, offset: int = 0, hour: int = 10) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=offset), dt.time(hour)))


def deal(owner, pb, name, amount, stage, history, *, created=D, closed=None):
    """A deal with the given stage history: ``[(stage code, entered day, left day or None)]``."""
    opp = make_opportunity(
        owner,
        playbook=pb,
        stage=stage,
        amount=amount,
        name=name,
        close=closed or dt.date(2026, 8, 1),
        closed_on=closed,
        entered_at=at(created),
    )
    StageVisit.objects.filter(opportunity=opp).delete()
    for code, entered, left in history:
        add_stage_visit(
            opp,
            stage_of(pb, code),
            entered_at=at(created, entered),
            left_at=at(created, left) if left is not None else None,
        )
    Opportunity.objects.filter(pk=opp.pk).update(created_at=at(created))
    return opp


@pytest.fixture(autouse=True)
def _fresh_cache():
    """The funnel's figures are cached; every test starts without them."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(personas):
    line = make_product_line("CRANE", name="起重机")
    pb = make_playbook(line)
    w = SimpleNamespace(line=line, pb=pb, p=personas)
    a = personas.alice
    w.A = deal(
        a,
        pb,
        "A",
        100,
        "negotiation",
        [("qualify", 0, 5), ("needs", 5, 15), ("proposal", 15, 35), ("negotiation", 35, None)],
    )
    w.B = deal(a, pb, "B", 200, "needs", [("qualify", 0, 10), ("needs", 10, None)])
    w.C = deal(
        a,
        pb,
        "C",
        300,
        "won",
        [("qualify", 0, 4), ("proposal", 4, 24), ("negotiation", 24, 30), ("won", 30, None)],
        closed=D + dt.timedelta(days=30),
    )
    w.D = deal(
        a,
        pb,
        "D",
        400,
        "lost",
        [("qualify", 0, 6), ("needs", 6, 20), ("lost", 20, None)],
        closed=D + dt.timedelta(days=20),
    )
    w.E = deal(a, pb, "E", 50, "qualify", [("qualify", 0, None)])
    w.G = deal(
        a,
        pb,
        "G",
        500,
        "won",
        [("qualify", 0, 50), ("won", 50, None)],
        created=D - dt.timedelta(days=40),
        closed=D + dt.timedelta(days=10),
    )
    w.H = deal(personas.charlie, pb, "H", 700, "qualify", [("qualify", 0, None)])
    return w


def ctx_for(user, **params):
    return sel.funnel_context(user=user, data={**PERIOD, **params}, today=dt.date(2026, 7, 1))


def by_code(rows, key):
    return {r["code"]: r[key] for r in rows}


def test_open_funnel_counts_and_amounts(world):
    f = sel.funnel_open(ctx_for(world.p.alice))
    assert by_code(f["stages"], "count") == {"qualify": 1, "needs": 1, "proposal": 0, "negotiation": 1}
    assert by_code(f["stages"], "amount") == {
        "qualify": Decimal("50"),
        "needs": Decimal("200"),
        "proposal": Decimal("0"),
        "negotiation": Decimal("100"),
    }
    assert f["total"] == {"count": 3, "amount": Decimal("350")}


def test_conversion_counts_skipped_stages_as_reached(world):
    c = sel.funnel_conversion(ctx_for(world.p.alice))
    assert by_code(c["stages"], "reached") == {
        "qualify": 5,
        "needs": 4,
        "proposal": 2,
        "negotiation": 2,
        "won": 1,
    }
    assert by_code(c["stages"], "conversion_pct") == {
        "qualify": Decimal("80.0"),
        "needs": Decimal("50.0"),
        "proposal": Decimal("100.0"),
        "negotiation": Decimal("50.0"),
        "won": None,
    }
    assert (c["entered"], c["won"], c["overall_pct"]) == (5, 1, Decimal("20.0"))


def test_velocity_averages_completed_stays_only(world):
    v = sel.funnel_velocity(ctx_for(world.p.alice))
    assert by_code(v["stages"], "avg_days") == {
        "qualify": Decimal("6.3"),
        "needs": Decimal("12.0"),
        "proposal": Decimal("20.0"),
        "negotiation": Decimal("6.0"),
    }
    assert by_code(v["stages"], "stays") == {"qualify": 4, "needs": 2, "proposal": 2, "negotiation": 1}


def test_win_rate_and_cycle_time_over_deals_closed_in_the_period(world):
    o = sel.funnel_outcomes(ctx_for(world.p.alice), "product_line")
    t = o["total"]
    assert (t["won_count"], t["lost_count"], t["closed_count"]) == (2, 1, 3)
    assert t["won_amount"] == Decimal("800")
    assert t["win_rate_pct"] == Decimal("66.7")
    assert t["cycle_days"] == Decimal("40.0")
    assert (t["open_count"], t["open_amount"]) == (3, Decimal("350"))
    assert [r["label"] for r in o["rows"]] == ["起重机"]


def test_breakdowns_by_rep_and_unit_add_up_to_the_total(world):
    ctx = ctx_for(world.p.dora)
    totals = {dim: sel.funnel_outcomes(ctx, dim)["total"] for dim in sel.DIMENSIONS}
    assert totals["product_line"] == totals["org_unit"] == totals["owner"]
    reps = sel.funnel_outcomes(ctx, "owner")["rows"]
    assert [r["key"] for r in reps] == [world.p.alice.pk]  # dora does not see charlie's branch
    admin = sel.funnel_outcomes(ctx_for(world.p.admin), "owner")
    assert {r["key"]: r["open_count"] for r in admin["rows"]} == {world.p.alice.pk: 3, world.p.charlie.pk: 1}


def test_the_closed_basis_takes_deals_closing_in_the_period(world):
    # open deals close on 2026-08-01: outside; C, D and G closed inside
    ctx = ctx_for(world.p.alice, basis="closed")
    assert sel.funnel_open(ctx)["total"]["count"] == 0
    reached = by_code(sel.funnel_conversion(ctx)["stages"], "reached")
    assert reached["qualify"] == 3 and reached["won"] == 2
    ctx = ctx_for(world.p.alice, basis="closed", date_to="2026-08-31")
    assert sel.funnel_open(ctx)["total"]["count"] == 3


@pytest.mark.parametrize(
    "metric,stage,expected",
    [
        (sel.M_OPEN, "", {"A", "B", "E"}),
        (sel.M_OPEN, "needs", {"B"}),
        (sel.M_REACHED, "qualify", {"A", "B", "C", "D", "E"}),
        (sel.M_REACHED, "needs", {"A", "B", "C", "D"}),
        (sel.M_REACHED, "proposal", {"A", "C"}),
        (sel.M_REACHED, "won", {"C"}),
        (sel.M_STAYED, "qualify", {"A", "B", "C", "D"}),
        (sel.M_STAYED, "negotiation", {"C"}),
        (sel.M_WON, "", {"C", "G"}),
        (sel.M_LOST, "", {"D"}),
        (sel.M_CLOSED, "", {"C", "D", "G"}),
    ],
)
def test_each_drill_down_selects_exactly_the_deals_counted(world, metric, stage, expected):
    ctx = ctx_for(world.p.alice)
    names = {o.name for o in sel.funnel_drill(ctx, metric=metric, stage=stage or None)}
    assert names == expected


def test_drill_downs_agree_with_every_figure(world):
    """Whatever the figure, its drill-down holds as many deals as it counts."""
    for user in (world.p.alice, world.p.bob, world.p.admin):
        ctx = ctx_for(user)
        for row in sel.funnel_open(ctx)["stages"]:
            assert sel.funnel_drill(ctx, metric=sel.M_OPEN, stage=row["code"]).count() == row["count"]
        for row in sel.funnel_conversion(ctx)["stages"]:
            assert sel.funnel_drill(ctx, metric=sel.M_REACHED, stage=row["code"]).count() == row["reached"]
        for row in sel.funnel_velocity(ctx)["stages"]:
            # no deal of the example stayed twice in a stage: as many deals as completed stays
            assert sel.funnel_drill(ctx, metric=sel.M_STAYED, stage=row["code"]).count() == row["stays"]
        for dim in sel.DIMENSIONS:
            for row in sel.funnel_outcomes(ctx, dim)["rows"]:
                kw = {"unit_exact": row["key"]} if dim == "org_unit" else {}
                drill_ctx = ctx if dim == "org_unit" else ctx_for(user, **{dim: row["key"]})
                won = sel.funnel_drill(drill_ctx, metric=sel.M_WON, **kw).count()
                assert won == row["won_count"], (dim, row)
                opened = sel.funnel_drill(drill_ctx, metric=sel.M_OPEN, **kw).count()
                assert opened == row["open_count"], (dim, row)


def test_outsider_sees_none_of_alices_figures(world):
    ctx = ctx_for(world.p.charlie)
    assert sel.funnel_open(ctx)["total"]["count"] == 1  # H only
    assert sel.funnel_outcomes(ctx, "owner")["total"]["won_count"] == 0
    assert by_code(sel.funnel_conversion(ctx)["stages"], "reached")["qualify"] == 1


def test_filters_narrow_to_a_rep_and_a_unit(world):
    bob_view = ctx_for(world.p.bob, owner=world.p.alice.pk)
    assert sel.funnel_open(bob_view)["total"]["count"] == 3
    other_unit = ctx_for(world.p.admin, org_unit=world.p.team_c.pk)
    assert sel.funnel_open(other_unit)["total"]["count"] == 1
