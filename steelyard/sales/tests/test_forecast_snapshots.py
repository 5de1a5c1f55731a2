"""Snapshots: a complete copy of the cells, taken once a week (or by an administrator), never changed or
deleted (models and API); the forecast as of a snapshot compared with now; the pages per persona."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from steelyard.core.models import AuditLog
from steelyard.core.periodic import _registry
from steelyard.sales.models import (
    ForecastCell,
    ForecastSnapshot,
    ForecastSnapshotRow,
    ImmutableError,
)
from steelyard.sales.selectors import forecast as sel
from steelyard.sales.services.forecast import (
    forecast_cells_apply,
    forecast_snapshot_take,
    opportunity_figures,
    weighted,
)
from steelyard.sales.tasks_forecast import SNAPSHOT_JOB, forecast_snapshot_job
from steelyard.sales.tests.test_forecast_world import build

pytestmark = pytest.mark.django_db
TZ = timezone.get_default_timezone()


@pytest.fixture
def world(personas):
    return build(personas)


def rows_of(snapshot):
    return {
        (r.owner_id, r.org_unit_id, r.product_line_id, r.month, r.category): (
            r.count,
            r.amount_cents,
            r.weighted_cents,
        )
        for r in ForecastSnapshotRow.objects.filter(snapshot=snapshot)
    }


def cells():
    return {
        (c.owner_id, c.org_unit_id, c.product_line_id, c.month, c.category): (
            c.count,
            c.amount_cents,
            c.weighted_cents,
        )
        for c in ForecastCell.objects.all()
        if c.count or c.amount_cents or c.weighted_cents
    }


def test_a_snapshot_copies_every_non_empty_cell(personas, world):
    # an emptied cell (a deal moved out of it) is not copied
    opp = world["opps"]["b_commit"]
    before = opportunity_figures(opp)
    opp.expected_close_date = world["m2"]
    opp.save()
    forecast_cells_apply(before, opportunity_figures(opp))
    assert ForecastCell.objects.filter(count=0).count() == 1
    snap = forecast_snapshot_take()
    assert snap.rows_count == len(cells()) == 8
    assert rows_of(snap) == cells()
    monday = timezone.localdate() - dt.timedelta(days=timezone.localdate().weekday())
    assert (snap.week, snap.is_weekly, snap.taken_by) == (monday, True, None)
    assert AuditLog.objects.filter(verb="sales.forecast_snapshot_taken", object_id=str(snap.pk)).exists()


def test_the_weekly_snapshot_is_taken_once_a_week(personas, world):
    monday = dt.datetime(2026, 6, 1, 6, 0, tzinfo=TZ)
    first = forecast_snapshot_take(at=monday)
    again = forecast_snapshot_take(at=monday + dt.timedelta(days=3))
    assert again == first and ForecastSnapshot.objects.count() == 1
    # Sunday late evening, local time, is still that week; Monday is the next one
    sunday = forecast_snapshot_take(at=dt.datetime(2026, 6, 7, 23, 30, tzinfo=TZ))
    assert sunday == first
    next_week = forecast_snapshot_take(at=dt.datetime(2026, 6, 8, 0, 30, tzinfo=TZ))
    assert next_week.week == dt.date(2026, 6, 8)
    extra = forecast_snapshot_take(actor=personas.admin, weekly=False, at=monday)
    assert (
        extra.pk not in (first.pk, next_week.pk) and not extra.is_weekly and extra.taken_by == personas.admin
    )


def test_only_administrators_take_one_by_hand(personas, world):
    for user in (personas.bob, personas.dora, personas.alice):
        with pytest.raises(PermissionDenied):
            forecast_snapshot_take(actor=user, weekly=False)
    assert ForecastSnapshot.objects.count() == 0


def test_the_periodic_job_takes_the_weekly_snapshot(personas, world):
    job = _registry[SNAPSHOT_JOB]
    assert job.cron == "0 6 * * 1"
    assert job.matches(dt.datetime(2026, 6, 1, 6, 0)) and not job.matches(dt.datetime(2026, 6, 2, 6, 0))
    result = forecast_snapshot_job.call()
    assert result["rows"] == 8
    assert forecast_snapshot_job.call()["snapshot"] == result["snapshot"]  # twice in a week: one snapshot


def test_snapshots_are_immutable(personas, world):
    snap = forecast_snapshot_take()
    row = ForecastSnapshotRow.objects.filter(snapshot=snap).first()
    snap.rows_count = 1
    with pytest.raises(ImmutableError):
        snap.save()
    with pytest.raises(ImmutableError):
        snap.delete()
    row.amount_cents = 1
    with pytest.raises(ImmutableError):
        row.save()
    with pytest.raises(ImmutableError):
        row.delete()
    with pytest.raises(ImmutableError):
        ForecastSnapshot.objects.filter(pk=snap.pk).update(rows_count=0)
    with pytest.raises(ImmutableError):
        ForecastSnapshotRow.objects.filter(snapshot=snap).update(amount_cents=0)
    with pytest.raises(ImmutableError):
        ForecastSnapshotRow.objects.all().delete()
    with pytest.raises(ImmutableError):
        ForecastSnapshot.objects.all().delete()
    snap.refresh_from_db()
    assert snap.rows_count == 8 and rows_of(snap) == cells()


def test_no_api_route_changes_a_snapshot(personas, world, client_for):
    snap = forecast_snapshot_take()
    admin = client_for(personas.admin)
    base = f"/api/v1/sales/forecast/snapshots/{snap.pk}"
    for method in ("put", "patch", "delete"):
        r = getattr(admin, method)(base, content_type="application/json", data="{}")
        assert r.status_code == 405, (method, r.status_code)
        r = getattr(admin, method)(f"{base}/rows", content_type="application/json", data="{}")
        assert r.status_code == 405
    assert admin.post(f"{base}/rows", content_type="application/json", data="{}").status_code == 405
    snap.refresh_from_db()
    assert snap.rows_count == 8 and ForecastSnapshotRow.objects.filter(snapshot=snap).count() == 8


def test_movement_since_a_snapshot(personas, world):
    p, m1 = personas, world["m1"]
    snap = forecast_snapshot_take()
    opp = world["opps"]["a_commit"]
    before = opportunity_figures(opp)
    opp.amount = Decimal("1200000")
    opp.weighted_amount = weighted(opp.amount, opp.probability)
    opp.save()
    forecast_cells_apply(before, opportunity_figures(opp))
    q = sel.ForecastQuery(months=[world["m0"], m1, world["m2"]])
    tree = sel.forecast_tree(p.bob, q, compare=snap)
    assert tree.total.value(m1, "commit", sel.THEN) == 140_000_000
    assert tree.total.value(m1, "commit", sel.NOW) == 160_000_000
    alice = tree.nodes[f"p{p.team_a.pk}-{p.alice.pk}"]
    assert alice.value(m1, "commit", sel.NOW) - alice.value(m1, "commit", sel.THEN) == 20_000_000
    # the snapshot's rows are scoped like the cells
    assert sel.snapshot_row_list(p.alice, snap).count() == 6
    assert sel.snapshot_row_list(p.charlie, snap).count() == 1
    assert sel.snapshot_row_list(p.admin, snap).count() == 8


# --- pages ----------------------------------------------------------------------------------------------


def test_snapshot_pages_per_persona(personas, world, client_for):
    p = personas
    snap = forecast_snapshot_take(at=timezone.now() - dt.timedelta(days=1), weekly=False)
    for user in (p.alice, p.bob, p.charlie, p.dora, p.admin):
        r = client_for(user).get("/sales/forecast/snapshots/")
        assert r.status_code == 200
        assert f'data-snapshot="{snap.pk}"' in r.content.decode()
        assert ("data-take-snapshot" in r.content.decode()) == (user == p.admin)
    detail = f"/sales/forecast/snapshots/{snap.pk}/"
    alice = client_for(p.alice).get(detail)
    assert alice.status_code == 200
    html = alice.content.decode()
    assert "¥1,000,000" in html and "¥9,999,000" not in html and "¥1,400,000" not in html
    charlie = client_for(p.charlie).get(detail).content.decode()
    assert "¥9,999,000" in charlie and "¥1,000,000" not in charlie
    bob = client_for(p.bob).get(detail).content.decode()
    assert "¥1,400,000" in bob and "¥9,999,000" not in bob
    assert client_for(p.bob).get("/sales/forecast/snapshots/99999/").status_code == 404


def test_the_movement_shows_on_the_snapshot_page(personas, world, client_for):
    snap = forecast_snapshot_take(weekly=False)
    opp = world["opps"]["b_commit"]
    before = opportunity_figures(opp)
    opp.amount = Decimal("100000")
    opp.weighted_amount = weighted(opp.amount, opp.probability)
    opp.save()
    forecast_cells_apply(before, opportunity_figures(opp))
    r = client_for(personas.bob).get(f"/sales/forecast/snapshots/{snap.pk}/")
    moves = re.findall(r"data-move>([^<]+)<", r.content.decode())
    assert "-¥300,000" in moves


def test_take_a_snapshot_from_the_page(personas, world, client_for):
    r = client_for(personas.admin).post("/sales/forecast/snapshots/take/")
    snap = ForecastSnapshot.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/sales/forecast/snapshots/{snap.pk}/"
    assert not snap.is_weekly and snap.rows_count == 8
    assert client_for(personas.bob).post("/sales/forecast/snapshots/take/").status_code == 403
    assert client_for(personas.admin).get("/sales/forecast/snapshots/take/").status_code == 405
    assert ForecastSnapshot.objects.count() == 1


def test_snapshot_api_per_persona(personas, world, client_for):
    p = personas
    admin = client_for(p.admin)
    r = admin.post("/api/v1/sales/forecast/snapshots", content_type="application/json")
    assert r.status_code == 201, r.content
    snap_id = r.json()["id"]
    assert r.json()["rows_count"] == 8 and r.json()["is_weekly"] is False
    assert client_for(p.bob).post("/api/v1/sales/forecast/snapshots").status_code == 403
    assert client_for(p.alice).post("/api/v1/sales/forecast/snapshots").status_code == 403
    for user, n in ((p.alice, 6), (p.bob, 7), (p.charlie, 1), (p.dora, 7), (p.admin, 8)):
        c = client_for(user)
        assert [s["id"] for s in c.get("/api/v1/sales/forecast/snapshots").json()["items"]] == [snap_id]
        assert c.get(f"/api/v1/sales/forecast/snapshots/{snap_id}").json()["rows_count"] == 8
        rows = c.get(f"/api/v1/sales/forecast/snapshots/{snap_id}/rows").json()["items"]
        assert len(rows) == n, user
    rows = client_for(p.charlie).get(f"/api/v1/sales/forecast/snapshots/{snap_id}/rows").json()["items"]
    assert rows[0]["amount"] == "9999000.00" and rows[0]["owner_id"] == p.charlie.pk
    assert client_for(p.bob).get("/api/v1/sales/forecast/snapshots/99999").status_code == 404
    move = client_for(p.alice).get(f"/api/v1/sales/forecast/snapshots/{snap_id}/movement").json()
    commit = {(m["month"], m["category"]): m for m in move["movement"]}
    key = (world["m1"].isoformat(), "commit")
    assert commit[key] == {
        "month": key[0],
        "category": "commit",
        "snapshot": "1000000.00",
        "now": "1000000.00",
        "change": "0.00",
    }
