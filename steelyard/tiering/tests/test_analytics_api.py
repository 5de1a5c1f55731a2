"""The tier analytics API (/api/v1/tiers/analytics/): same figures as the page, scoped per caller."""

from __future__ import annotations

import pytest

from steelyard.customers.selectors import activities as activity_selectors
from steelyard.customers.testing import make_customer
from steelyard.tiering.models import TierModel
from steelyard.tiering.tests.analytics_world import QUERY, build, fake_visit_frequency

pytestmark = pytest.mark.django_db
BASE = "/api/v1/tiers/analytics"


@pytest.fixture
def world(personas, monkeypatch):
    monkeypatch.setattr(activity_selectors, "visit_frequency_for", fake_visit_frequency)
    return build(personas)


def get(client, path, **params):
    r = client.get(f"{BASE}/{path}", {**QUERY, **params})
    assert r.status_code == 200, r.content
    return r.json()


def tiers(body):
    return {row["tier"]: row for row in body["tiers"]}


def test_distribution_per_persona(world, personas, client_for):
    alice = get(client_for(personas.alice), "distribution")
    assert alice["period"] == {
        "start": "2025-07-01",
        "end": "2026-06-30",
        "previous_start": "2024-07-01",
        "previous_end": "2025-06-30",
        "months": 12,
        "days": 365,
    }
    assert alice["model"]["id"] == world["model"].pk
    assert alice["total"] == {"customers": 6, "revenue": "10000000.00"}
    assert tiers(alice)["strategic"]["revenue_pct"] == "46.0"
    assert tiers(alice)["strategic"]["customers_pct"] == "16.7"
    assert get(client_for(personas.bob), "distribution")["total"]["revenue"] == "11000000.00"
    charlie = get(client_for(personas.charlie), "distribution")
    assert charlie["total"] == {"customers": 1, "revenue": "50000000.00"}
    assert get(client_for(personas.admin), "distribution")["total"]["customers"] == 8


def test_growth_retention_and_visits(world, personas, client_for):
    client = client_for(personas.alice)
    g = get(client, "growth")
    assert g["total"] == {
        "current": "10000000.00",
        "previous": "3500000.00",
        "change": "6500000.00",
        "growth_pct": "185.7",
    }
    r = get(client, "retention")
    assert tiers(r)["key"] == {
        "tier": "key",
        "label": "重点",
        "buyers_previous": 2,
        "retained": 1,
        "lost": 1,
        "new": 0,
        "retention_pct": "50.0",
    }
    v = get(client, "visits")
    assert v["days"] == 365 and v["total"]["required"] == "33.3" and v["total"]["done"] == 23
    assert tiers(v)["strategic"]["done_pct"] == "82.2"
    assert get(client_for(personas.charlie), "visits")["total"]["done"] == 3
    assert get(client_for(personas.charlie), "retention")["total"]["retained"] == 1


def test_migration_scoped_and_unscoped(world, personas, client_for):
    alice = get(client_for(personas.alice), "migration")
    assert alice["source"] == "assessments" and len(alice["runs"]) == 2
    flows = {(f["from_tier"], f["to_tier"]): f["customers"] for f in alice["runs"][-1]["flows"]}
    assert flows == {("key", "strategic"): 1, ("key", "key"): 1, ("strategic", "key"): 1, ("", "regular"): 1}
    charlie = get(client_for(personas.charlie), "migration")
    assert charlie["runs"][-1]["flows"] == [{"from_tier": "regular", "to_tier": "strategic", "customers": 1}]
    admin = get(client_for(personas.admin), "migration", runs=1)
    assert admin["source"] == "runs" and len(admin["runs"]) == 1
    assert {(f["from_tier"], f["to_tier"]): f["customers"] for f in admin["runs"][0]["flows"]}[
        ("regular", "strategic")
    ] == 2


def test_drilldown_lists_the_customers_behind_a_number(world, personas, client_for):
    body = get(client_for(personas.alice), "customers", tier="key", metric="lost")
    assert [c["legal_name"] for c in body["items"]] == ["甲三重点客户有限公司"]
    row = get(client_for(personas.alice), "customers", tier="strategic")["items"][0]
    assert row["revenue"] == "4600000.00" and row["revenue_previous"] == "2000000.00"
    assert (row["visits_done"], row["visit_frequency"], row["visits_required"]) == (10, 30, "12.2")
    assert row["tier"] == "strategic"
    names = {c["legal_name"] for c in get(client_for(personas.charlie), "customers")["items"]}
    assert names == {"丙一战略客户有限公司"}
    names = {c["legal_name"] for c in get(client_for(personas.bob), "customers", tier="key")["items"]}
    assert names == {"甲二重点客户有限公司", "甲三重点客户有限公司", "乙一重点客户有限公司"}
    moved = get(
        client_for(personas.alice),
        "customers",
        metric="migration",
        run=world["r2"].pk,
        tier="regular",
        from_tier="-",
    )
    assert [c["legal_name"] for c in moved["items"]] == ["甲四一般客户有限公司"]


def test_drilldown_pages_with_a_cursor_by_revenue(world, personas, client_for):
    client = client_for(personas.admin)
    first = get(client, "customers", limit=3)
    assert [c["revenue"] for c in first["items"]] == ["50000000.00", "4600000.00", "3000000.00"]
    rest = get(client, "customers", limit=10, cursor=first["next_cursor"])
    assert len(rest["items"]) == 5 and rest["next_cursor"] is None
    assert not {c["id"] for c in first["items"]} & {c["id"] for c in rest["items"]}


@pytest.mark.parametrize(
    "params, field",
    [
        ({"months": 7}, "query.months"),
        ({"as_of": "2026-13-01"}, "query.as_of"),
        ({"as_of": "0001-01-01"}, "query.as_of"),
        ({"model": 999999}, "query.model"),
        ({"runs": 0}, "query.runs"),
    ],
)
def test_bad_parameters_answer_422_with_the_field(world, personas, client_for, params, field):
    r = client_for(personas.admin).get(f"{BASE}/migration", params)
    assert r.status_code == 422, r.content
    assert field in {f["field"] for f in r.json()["error"]["fields"]}


def test_reps_cannot_pick_an_org_unit_managers_only_theirs(world, personas, client_for):
    r = client_for(personas.alice).get(f"{BASE}/distribution", {"unit": personas.team_a.pk})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "query.unit"
    r = client_for(personas.bob).get(f"{BASE}/distribution", {"unit": personas.team_c.pk})
    assert r.status_code == 422
    ok = get(client_for(personas.admin), "distribution", unit=personas.beijing.pk)
    assert ok["total"]["revenue"] == "50000000.00" and ok["unit_id"] == personas.beijing.pk


def test_bad_drilldown_parameters(world, personas, client_for):
    client = client_for(personas.alice)
    r = client.get(f"{BASE}/customers", {"metric": "bogus"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "query.metric"
    r = client.get(f"{BASE}/customers", {"metric": "migration"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "query.run"


def test_no_model_is_a_404(personas, client_for):
    TierModel.objects.all().delete()
    r = client_for(personas.alice).get(f"{BASE}/distribution")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_signed_out_callers_are_refused(client):
    assert client.get(f"{BASE}/distribution").status_code == 401


def test_queries_do_not_grow_with_customers(world, personas, client_for, django_assert_max_num_queries):
    client = client_for(personas.bob)
    for i in range(30):
        make_customer(personas.alice, tier=("strategic", "key", "regular")[i % 3])
    for path in ("distribution", "growth", "retention", "migration", "visits", "customers"):
        with django_assert_max_num_queries(20):
            client.get(f"{BASE}/{path}", QUERY)
