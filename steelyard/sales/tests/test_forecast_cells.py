"""The forecast cells: deltas on every write agree exactly with a full recount."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from steelyard.orders.testing import make_product_line
from steelyard.sales.models import ForecastCell, OpportunityStatus
from steelyard.sales.services.forecast import (
    forecast_cells_apply,
    forecast_rebuild,
    opportunity_figures,
    weighted,
)
from steelyard.sales.testing import make_opportunity, make_playbook, stage_of


def cells() -> dict[str, tuple[int, int, int]]:
    return {
        c.key: (c.count, c.amount_cents, c.weighted_cents)
        for c in ForecastCell.objects.all()
        if c.count or c.amount_cents or c.weighted_cents
    }


def test_weighted_rounds_half_up_to_the_cent():
    assert weighted(Decimal("0.05"), Decimal("50")) == Decimal("0.03")
    assert weighted(Decimal("1234567.89"), Decimal("33.33")) == Decimal("411481.48")


def test_deltas_agree_with_a_rebuild(personas):
    line = make_product_line("CRANE", name="起重机")
    pb = make_playbook(line)
    june, july = dt.date(2026, 6, 15), dt.date(2026, 7, 3)
    a = make_opportunity(personas.alice, line=line, stage="negotiation", amount="1000000.55", close=june)
    b = make_opportunity(personas.alice, line=line, stage="proposal", amount="333.33", close=june)
    make_opportunity(personas.charlie, line=line, stage="won", amount="500", close=july)
    make_opportunity(personas.alice, line=line, stage="lost", amount="700", close=july)
    # a moves month and category; b is won
    before = opportunity_figures(a)
    a.expected_close_date = july
    a.stage = stage_of(pb, "proposal")
    a.forecast_category = a.stage.forecast_category
    a.probability = a.stage.probability
    a.weighted_amount = weighted(a.amount, a.probability)
    a.save()
    forecast_cells_apply(before, opportunity_figures(a))
    before = opportunity_figures(b)
    b.status, b.closed_on, b.stage = OpportunityStatus.WON, july, stage_of(pb, "won")
    b.save()
    forecast_cells_apply(before, opportunity_figures(b))
    incremental = cells()
    forecast_rebuild()
    assert cells() == incremental
    alice = personas.alice
    unit = alice.org_unit_id or 0
    assert incremental[f"{alice.pk}:{unit}:{line.pk}:2026-07:best_case"] == (1, 100000055, 40000022)
    assert incremental[f"{alice.pk}:{unit}:{line.pk}:2026-07:won"] == (1, 33333, 33333)
    assert f"{alice.pk}:{unit}:{line.pk}:2026-06:commit" not in incremental


def test_a_rebuild_repairs_wrong_missing_and_stray_cells(personas):
    line = make_product_line("CRANE", name="起重机")
    make_playbook(line)
    june = dt.date(2026, 6, 15)
    make_opportunity(personas.alice, line=line, stage="negotiation", amount="1000.10", close=june)
    make_opportunity(personas.bob, line=line, stage="proposal", amount="200", close=june)
    make_opportunity(personas.charlie, line=line, stage="won", amount="300", close=june)
    right = cells()
    assert forecast_rebuild() == 3 and cells() == right  # nothing to repair: nothing changes
    first, second, third = ForecastCell.objects.order_by("pk")
    ForecastCell.objects.filter(pk=first.pk).update(amount_cents=1, count=9)  # wrong
    second.delete()  # missing
    ForecastCell.objects.create(  # stray: no opportunity behind it
        key="999:0:1:2026-06:commit",
        owner=personas.dora,
        product_line=line,
        month=dt.date(2026, 6, 1),
        category="commit",
        count=1,
        amount_cents=5,
    )
    ForecastCell.objects.filter(pk=third.pk).update(count=0, amount_cents=0, weighted_cents=0)  # emptied
    assert forecast_rebuild() == 3
    assert cells() == right
    assert not ForecastCell.objects.filter(owner=personas.dora).exists()
