"""The forecast API (/api/v1/sales/forecast/) per persona: the same figures as the page, scoped; the
adjustments list and create (managers only, within their scope); parameter errors."""

from __future__ import annotations

import pytest

from steelyard.sales.models import ForecastAdjustment
from steelyard.sales.tests.test_forecast_world import build

pytestmark = pytest.mark.django_db
BASE = "/api/v1/sales/forecast"


@pytest.fixture
def world(personas):
    return build(personas)


def month_of(body, node, month):
    return next(f for f in node["months"] if f["month"] == month.isoformat())


def test_forecast_per_persona(personas, world, client_for):
    p, m0, m1 = personas, world["m0"], world["m1"]
    alice = client_for(p.alice).get(f"{BASE}/")
    assert alice.status_code == 200, alice.content
    body = alice.json()
    assert len(body["months"]) == 6 and body["months"][0] == m0.isoformat()
    assert body["adjusted_shown"] is False
    t1 = month_of(body, body["total"], m1)
    assert t1["commit"] == "1000000.00" and t1["best_case"] == "500000.00" and t1["omitted"] == "80000.00"
    assert t1["weighted"] == "900000.00" and t1["best_case_rollup"] == "1500000.00"
    assert t1["counts"]["commit"] == 1 and t1["adjusted"] is None
    assert body["total"]["total"]["pipeline_rollup"] == "2000000.00"
    [team] = body["tree"]
    assert (team["kind"], team["name"], [c["name"] for c in team["children"]]) == (
        "unit",
        "Shanghai Crane Team",
        ["Alice"],
    )

    bob = client_for(p.bob).get(f"{BASE}/").json()
    assert bob["adjusted_shown"] is True
    assert month_of(bob, bob["total"], m1)["commit"] == "1400000.00"
    assert month_of(bob, bob["total"], m1)["adjusted"] == {
        "commit": "1400000.00",
        "best_case": "1900000.00",
        "pipeline": "1900000.00",
    }
    charlie = client_for(p.charlie).get(f"{BASE}/").json()
    assert month_of(charlie, charlie["total"], m1)["commit"] == "9999000.00"
    dora = client_for(p.dora).get(f"{BASE}/").json()
    assert dora["tree"][0]["name"] == "East China"
    admin = client_for(p.admin).get(f"{BASE}/", {"unit": p.team_c.pk, "months": 3}).json()
    assert len(admin["months"]) == 3 and month_of(admin, admin["total"], m1)["commit"] == "9999000.00"
    line = client_for(p.admin).get(f"{BASE}/", {"product_line": world["line"].pk}).json()
    assert line["adjusted_shown"] is False and line["product_line_id"] == world["line"].pk


def test_forecast_parameter_errors(personas, world, client_for):
    r = client_for(personas.alice).get(f"{BASE}/", {"unit": personas.team_a.pk})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "query.unit"
    r = client_for(personas.bob).get(f"{BASE}/", {"start": "2026-13", "months": 5})
    assert r.status_code == 422
    assert {f["field"] for f in r.json()["error"]["fields"]} == {"query.start", "query.months"}
    assert client_for(personas.bob).get(f"{BASE}/", {"product_line": 99999}).status_code == 422
    assert client_for(personas.bob).get(f"{BASE}/", {"months": "x"}).status_code == 422


def test_create_and_list_adjustments(personas, world, client_for):
    p, m1 = personas, world["m1"]
    bob = client_for(p.bob)
    payload = {
        "subject_user_id": p.alice.pk,
        "month": m1.isoformat(),
        "category": "commit",
        "amount": "800000.50",
    }
    r = bob.post(f"{BASE}/adjustments", payload, content_type="application/json")
    assert r.status_code == 201, r.content
    assert r.json()["amount"] == "800000.50" and r.json()["author_id"] == p.bob.pk
    unit = {"subject_unit_id": p.team_a.pk, "month": m1.isoformat(), "category": "best_case", "amount": "5"}
    assert bob.post(f"{BASE}/adjustments", unit, content_type="application/json").status_code == 201
    items = bob.get(f"{BASE}/adjustments").json()["items"]
    assert [i["category"] for i in items] == ["best_case", "commit"]  # newest first
    filtered = bob.get(f"{BASE}/adjustments", {"subject_user": p.alice.pk}).json()["items"]
    assert len(filtered) == 1
    assert len(client_for(p.dora).get(f"{BASE}/adjustments").json()["items"]) == 2
    assert client_for(p.alice).get(f"{BASE}/adjustments").json()["items"] == []
    assert client_for(p.charlie).get(f"{BASE}/adjustments").json()["items"] == []
    body = bob.get(f"{BASE}/").json()
    assert month_of(body, body["total"], m1)["adjusted"]["commit"] == "1200000.50"


def test_adjustment_errors(personas, world, client_for):
    p, m1 = personas, world["m1"]
    ok = {"subject_user_id": p.alice.pk, "month": m1.isoformat(), "category": "commit", "amount": "1"}

    def post(user, **changes):
        data = {k: v for k, v in {**ok, **changes}.items() if v is not None}
        return client_for(user).post(f"{BASE}/adjustments", data, content_type="application/json")

    assert post(p.alice).status_code == 403  # reps can't adjust
    assert post(p.charlie).status_code == 403
    assert post(p.bob, subject_user_id=p.charlie.pk).status_code == 404  # outside his scope
    assert post(p.bob, subject_user_id=None, subject_unit_id=p.east.pk).status_code == 404
    both = post(p.bob, subject_unit_id=p.team_a.pk)
    assert both.status_code == 400
    r = post(p.bob, category="won")
    assert r.status_code == 400 and r.json()["error"]["fields"][0]["field"] == "category"
    assert post(p.bob, amount="-3").status_code == 400
    assert post(p.bob, amount="abc").status_code == 422
    assert post(p.bob, month="2026-02-30").status_code == 422
    assert ForecastAdjustment.objects.count() == 0
    assert client_for(p.bob).get(f"{BASE}/adjustments", {"category": "won"}).status_code == 422


def test_the_api_needs_a_signed_in_caller(world, client):
    for path in ("/", "/adjustments", "/snapshots", "/accuracy", "/calibration"):
        assert client.get(f"{BASE}{path}").status_code == 401
