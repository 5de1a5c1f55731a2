"""Forecast accuracy against a hand-computed example, and the accuracy page and API per persona.

Today is 2026-05-15; the period is the last two closed months, March and April 2026.

Snapshots (Asia/Shanghai):
- A, 2026-02-28 23:30 — before March began: alice March commit 100,000 (weighted 70,000) + won 20,000;
  bob March commit 50,000 (weighted 35,000).
- C, 2026-03-01 00:30 — after March began (so not March's forecast), taken with other figures.
- B, 2026-03-30 — the last before April: alice April commit 200,000 (weighted 140,000), bob nothing.
Won now: alice March 90,000, April 260,000; bob March 80,000, April 10,000.

Commit basis (forecast = commit + won in the snapshot):
- alice March: F 120,000, A 90,000 → 1 − 30,000/120,000 = 75.0 %; April: F 200,000, A 260,000 → 70.0 %;
  period: 1 − (30,000 + 60,000) / 320,000 = 71.875 → 71.9 %
- bob March: F 50,000, A 80,000 → 40.0 %; April: F 0 → undefined; period: 1 − (30,000 + 10,000)/50,000
  = 20.0 %
- the team (rolled up first): March F 170,000 = A 170,000 → 100.0 %; April F 200,000, A 270,000 → 65.0 %;
  period 1 − 70,000/370,000 = 81.08 → 81.1 %
Weighted basis: alice March F 70,000 + 20,000 = 90,000 = A → 100.0 %; bob March F 35,000, A 80,000 →
1 − 45/35 < 0 → 0.0 %; alice April F 140,000, A 260,000 → 1 − 120/140 = 14.3 %.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from steelyard.orders.testing import make_product_line
from steelyard.sales.models import ForecastCell
from steelyard.sales.selectors import forecast as sel
from steelyard.sales.services.forecast import forecast_snapshot_take
from steelyard.sales.tests.test_forecast_rollups import put_cells

pytestmark = pytest.mark.django_db
TZ = timezone.get_default_timezone()
MAR, APR = dt.date(2026, 3, 1), dt.date(2026, 4, 1)
TODAY = dt.date(2026, 5, 15)
Y = 100  # cents per yuan


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=TZ)


@pytest.fixture
def history(personas):
    p = personas
    line = make_product_line("CRANE")

    def reset(rows):
        ForecastCell.objects.all().delete()
        put_cells([(u, u.org_unit, line.pk, m, c, 1, a * Y, w * Y) for u, m, c, a, w in rows])

    reset(
        [
            (p.alice, MAR, "commit", 100_000, 70_000),
            (p.alice, MAR, "won", 20_000, 20_000),
            (p.bob, MAR, "commit", 50_000, 35_000),
        ]
    )
    a = forecast_snapshot_take(at=at(2026, 2, 28, 23, 30), weekly=False)
    reset([(p.alice, MAR, "commit", 999_000, 999_000), (p.bob, MAR, "commit", 999_000, 999_000)])
    c = forecast_snapshot_take(at=at(2026, 3, 1, 0, 30), weekly=False)
    reset([(p.alice, APR, "commit", 200_000, 140_000)])
    b = forecast_snapshot_take(at=at(2026, 3, 30, 9, 0), weekly=False)
    reset(
        [
            (p.alice, MAR, "won", 90_000, 90_000),
            (p.bob, MAR, "won", 80_000, 80_000),
            (p.alice, APR, "won", 260_000, 260_000),
            (p.bob, APR, "won", 10_000, 10_000),
            (p.charlie, APR, "won", 5_000_000, 5_000_000),
        ]
    )
    return {"a": a, "b": b, "c": c, "line": line}


def test_accuracy_matches_the_hand_computed_example(personas, history):
    p = personas
    r = sel.forecast_accuracy(p.bob, months=2, today=TODAY)
    assert r.months == [MAR, APR]
    assert r.snapshots == {MAR: history["a"], APR: history["b"]}
    alice = r.tree.nodes[f"p{p.team_a.pk}-{p.alice.pk}"]
    bob = r.tree.nodes[f"p{p.team_a.pk}-{p.bob.pk}"]
    team = r.tree.nodes[f"u{p.team_a.pk}"]
    assert (r.forecast(alice, MAR), r.actual(alice, MAR)) == (120_000 * Y, 90_000 * Y)
    assert r.accuracy(alice, MAR) == Decimal("75.0")
    assert r.accuracy(alice, APR) == Decimal("70.0")
    assert r.accuracy_all(alice) == Decimal("71.9")
    assert r.accuracy(bob, MAR) == Decimal("40.0")
    assert r.forecast(bob, APR) == 0 and r.accuracy(bob, APR) is None
    assert r.accuracy_all(bob) == Decimal("20.0")
    assert r.accuracy(team, MAR) == Decimal("100.0")
    assert r.accuracy(team, APR) == Decimal("65.0")
    assert r.accuracy_all(team) == Decimal("81.1")
    assert r.accuracy_all(r.tree.total) == Decimal("81.1")  # bob sees nothing of charlie's
    assert r.forecast_total(team) == 370_000 * Y and r.actual_total(team) == 440_000 * Y


def test_weighted_basis(personas, history):
    p = personas
    r = sel.forecast_accuracy(p.bob, months=2, basis=sel.BASIS_WEIGHTED, today=TODAY)
    alice = r.tree.nodes[f"p{p.team_a.pk}-{p.alice.pk}"]
    bob = r.tree.nodes[f"p{p.team_a.pk}-{p.bob.pk}"]
    assert r.forecast(alice, MAR) == 90_000 * Y and r.accuracy(alice, MAR) == Decimal("100.0")
    assert r.accuracy(bob, MAR) == Decimal("0.0")
    assert r.forecast(alice, APR) == 140_000 * Y
    assert r.accuracy(alice, APR) == Decimal("14.3")  # 1 − |260,000 − 140,000| / 140,000


def test_no_snapshot_before_a_month_leaves_it_undefined(personas, history):
    r = sel.forecast_accuracy(personas.bob, months=3, today=TODAY)
    assert r.months == [dt.date(2026, 2, 1), MAR, APR]
    assert r.snapshots[dt.date(2026, 2, 1)] is None
    team = r.tree.nodes[f"u{personas.team_a.pk}"]
    assert r.forecast(team, dt.date(2026, 2, 1)) is None
    assert r.accuracy_all(team) == Decimal("81.1")  # the months without a forecast are left out


def test_accuracy_formulas():
    assert sel.accuracy_of(None, 5) is None
    assert sel.accuracy_of(0, 5) is None
    assert sel.accuracy_of(100, 100) == Decimal("100.0")
    assert sel.accuracy_of(100, 0) == Decimal("0.0")
    assert sel.accuracy_of(100, 250) == Decimal("0.0")  # never below 0
    assert sel.accuracy_of(3, 2) == Decimal("66.7")
    assert sel.accuracy_total([(None, 5), (0, 0)]) is None
    assert sel.accuracy_total([(100, 90), (100, 130), (None, 999)]) == Decimal("80.0")


# --- page and API ------------------------------------------------------------------------------------


@pytest.fixture
def recent(personas):
    """Last month's forecast in a snapshot taken before it began, and what was won in it since."""
    p = personas
    line = make_product_line("CRANE")
    last = (timezone.localdate().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    put_cells(
        [
            (p.alice, p.team_a, line.pk, last, "commit", 1, 400_000 * Y, 280_000 * Y),
            (p.charlie, p.team_c, line.pk, last, "commit", 1, 7_000_000 * Y, 1),
        ]
    )
    snap = forecast_snapshot_take(at=sel.month_start_at(last) - dt.timedelta(days=2), weekly=False)
    ForecastCell.objects.all().delete()
    put_cells(
        [
            (p.alice, p.team_a, line.pk, last, "won", 1, 300_000 * Y, 300_000 * Y),
            (p.charlie, p.team_c, line.pk, last, "won", 1, 7_000_000 * Y, 7_000_000 * Y),
        ]
    )
    return {"last": last, "snapshot": snap}


def test_accuracy_page_per_persona(personas, recent, client_for):
    p = personas
    page = "/sales/forecast/accuracy/"
    alice = client_for(p.alice).get(page)
    assert alice.status_code == 200
    html = alice.content.decode()
    assert "75.0%" in html and "¥300,000" in html and "¥7,000,000" not in html
    assert 'data-chart="accuracy"' in html and 'id="forecast-accuracy-data"' in html
    bob = client_for(p.bob).get(page).content.decode()
    assert "75.0%" in bob and "¥7,000,000" not in bob
    charlie = client_for(p.charlie).get(page).content.decode()
    assert "100.0%" in charlie and "¥300,000" not in charlie
    admin = client_for(p.admin).get(page, {"basis": "weighted"}).content.decode()
    assert "¥7,300,000" in admin
    # the won amounts drill to the opportunity list: won, closed in the month
    assert f"closed_from={recent['last'].isoformat()}" in html and "category=won" in html


def test_accuracy_page_without_snapshots_says_what_to_wait_for(personas, client_for):
    r = client_for(personas.bob).get("/sales/forecast/accuracy/")
    assert r.status_code == 200
    assert "data-snapshots-used" in r.content.decode() and "empty-state" in r.content.decode()
    assert 'data-chart="accuracy"' not in r.content.decode()


def test_accuracy_api_per_persona(personas, recent, client_for):
    p = personas
    url = "/api/v1/sales/forecast/accuracy"
    alice = client_for(p.alice).get(url, {"months": 3})
    assert alice.status_code == 200, alice.content
    body = alice.json()
    assert body["basis"] == "commit" and len(body["months"]) == 3
    assert body["total"]["accuracy"] == "75.0"
    assert [r["name"] for r in body["rows"]] == ["Shanghai Crane Team", "Alice"]
    used = {s["month"]: s["snapshot_id"] for s in body["snapshots"]}
    assert used[recent["last"].isoformat()] == recent["snapshot"].pk
    charlie = client_for(p.charlie).get(url).json()
    assert charlie["total"]["actual"] == "7000000.00"
    assert client_for(p.admin).get(url, {"basis": "weighted"}).json()["total"]["forecast"] == "280000.01"
    assert client_for(p.alice).get(url, {"unit": p.team_a.pk}).status_code == 422  # reps don't filter by unit
    assert client_for(p.bob).get(url, {"months": 5}).status_code == 422
    assert client_for(p.bob).get(url, {"basis": "x"}).status_code == 422
