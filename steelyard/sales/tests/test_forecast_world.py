"""The data the forecast tests share (``build``), and a check that it is what the other tests assume.

Months are relative to today: M0 is this month, M1 next month, M2 the one after.

- alice (rep, Shanghai crane team): commit 1,000,000.00 (70 %) and best case 500,000.00 (40 %) in M1,
  pipeline 200,000.00 (10 %) in M2, won 300,000.00 in M0, lost 50,000.00 in M0, omitted 80,000.00 in M1;
- bob (her manager, same team): commit 400,000.00 in M1;
- charlie (rep, Beijing): commit 9,999,000.00 in M1 — nobody on alice's side may see it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from steelyard.orders.testing import make_product_line
from steelyard.sales.models import ForecastCell
from steelyard.sales.selectors.forecast import add_months
from steelyard.sales.testing import make_opportunity, make_playbook


def months() -> tuple[dt.date, dt.date, dt.date]:
    m0 = timezone.localdate().replace(day=1)
    return m0, add_months(m0, 1), add_months(m0, 2)


def build(personas: Any) -> dict[str, Any]:
    m0, m1, m2 = months()
    line = make_product_line("CRANE", name="起重机")
    playbook = make_playbook(line)
    alice, bob, charlie = personas.alice, personas.bob, personas.charlie
    d1 = m1 + dt.timedelta(days=9)
    opps = {
        "a_commit": make_opportunity(alice, line=line, stage="negotiation", amount="1000000", close=d1),
        "a_best": make_opportunity(alice, line=line, stage="proposal", amount="500000", close=d1),
        "a_pipe": make_opportunity(
            alice, line=line, stage="qualify", amount="200000", close=m2 + dt.timedelta(days=3)
        ),
        "a_won": make_opportunity(alice, line=line, stage="won", amount="300000", close=m0),
        "a_lost": make_opportunity(alice, line=line, stage="lost", amount="50000", close=m0),
        "a_omit": make_opportunity(
            alice, line=line, stage="qualify", amount="80000", close=d1, forecast_category="omitted"
        ),
        "b_commit": make_opportunity(bob, line=line, stage="negotiation", amount="400000", close=d1),
        "c_commit": make_opportunity(charlie, line=line, stage="negotiation", amount="9999000", close=d1),
    }
    return {"line": line, "playbook": playbook, "opps": opps, "m0": m0, "m1": m1, "m2": m2}


def test_the_world_is_what_the_tests_assume(personas):
    w = build(personas)
    cells = {(c.owner_id, c.month, c.category): c.amount_cents for c in ForecastCell.objects.all()}
    assert cells[(personas.alice.pk, w["m1"], "commit")] == 100_000_000
    assert cells[(personas.alice.pk, w["m0"], "won")] == 30_000_000
    assert cells[(personas.charlie.pk, w["m1"], "commit")] == 999_900_000
    assert ForecastCell.objects.count() == 8
