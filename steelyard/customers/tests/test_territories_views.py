"""Territory and reassignment screens and API, from each persona's side."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from steelyard.core.models import AuditLog
from steelyard.customers.models import Customer, Territory
from steelyard.customers.testing import make_customer
from steelyard.customers.tests.test_assignment_routing import rep, territory

pytestmark = pytest.mark.django_db


def _post(client, url, payload):
    return client.post(url, data=json.dumps(payload), content_type="application/json")


# --- screens ----------------------------------------------------------------------------------


def test_it_shows_the_territory_list_to_directors_and_admins_only(
    personas, client_for, django_assert_max_num_queries
):
    for i in range(5):
        territory(
            f"t{i}", provinces=["上海"], owner=personas.alice, org_unit=personas.team_a, strategy="owner"
        )
    c = client_for(personas.dora)
    with django_assert_max_num_queries(12):
        r = c.get(reverse("territory_list"))
    assert r.status_code == 200 and b'data-territory="t4"' in r.content
    assert client_for(personas.admin).get(reverse("territory_list")).status_code == 200
    for who in (personas.alice, personas.bob, personas.charlie):
        assert client_for(who).get(reverse("territory_list")).status_code == 403


def test_it_shows_the_routing_result(personas, client_for):
    territory("sh", provinces=["上海"], owner=personas.alice, strategy="owner")
    r = client_for(personas.dora).get(
        reverse("territory_list"), {"route-province": "上海", "route-industry": ""}
    )
    assert b"data-route-result" in r.content and "Alice" in r.content.decode()


def test_it_creates_and_edits_a_territory(personas, client_for):
    c = client_for(personas.dora)
    r = c.post(
        reverse("territory_create"),
        {
            "name": "华东港口",
            "code": "east-ports",
            "provinces": ["上海", "浙江"],
            "industries": ["ports"],
            "product_lines": "crane, rtg",
            "owner": personas.bob.pk,
            "org_unit": personas.team_a.pk,
            "members": [personas.alice.pk],
            "strategy": "round_robin",
            "priority": 10,
            "is_active": "on",
        },
    )
    assert r.status_code == 302, r.content.decode()[-2000:]
    t = Territory.objects.get(code="east-ports")
    assert t.provinces == ["上海", "浙江"] and t.product_lines == ["crane", "rtg"]
    assert list(t.members.all()) == [personas.alice]
    r = c.post(
        reverse("territory_edit", args=[t.pk]),
        {
            "name": "华东港口",
            "code": "east-ports",
            "strategy": "owner",
            "priority": 5,
            "owner": personas.bob.pk,
        },
    )
    assert r.status_code == 302
    t.refresh_from_db()
    assert t.strategy == "owner" and t.members.count() == 0
    assert AuditLog.objects.filter(object_id=str(t.pk), content_type__model="territory").count() == 2


def test_it_refuses_a_territory_form_with_people_out_of_scope(personas, client_for):
    r = client_for(personas.dora).post(
        reverse("territory_create"),
        {
            "name": "x",
            "code": "x",
            "strategy": "owner",
            "priority": 1,
            "owner": personas.charlie.pk,
        },
    )
    assert r.status_code == 200 and not Territory.objects.exists()


def test_it_reassigns_one_customer_from_each_side(personas, client_for):
    erin = rep("erin", personas.team_a, personas.bob)
    cust = make_customer(personas.alice)
    url = reverse("customer_reassign", args=[cust.pk])
    assert client_for(personas.charlie).get(url).status_code == 404
    assert client_for(personas.alice).get(url).status_code == 403
    assert client_for(personas.bob).get(url).status_code == 200
    r = client_for(personas.bob).post(url, {"to_owner": erin.pk, "reason": "balance"})
    assert r.status_code == 302
    assert Customer.objects.get(pk=cust.pk).owner == erin


def test_it_previews_then_moves_a_book(personas, client_for):
    erin = rep("erin", personas.team_a, personas.bob)
    for _ in range(3):
        make_customer(personas.alice)
    c = client_for(personas.bob)
    data = {"from_user": personas.alice.pk, "to_user": erin.pk, "reason": "left", "include_activities": "on"}
    r = c.post(reverse("reassign_bulk"), data)
    assert b"data-reassign-preview" in r.content and b"data-confirm" in r.content
    assert Customer.objects.filter(owner=personas.alice).count() == 3
    r = c.post(reverse("reassign_bulk"), {**data, "confirm": "1"})
    assert b"data-reassign-result" in r.content
    assert Customer.objects.filter(owner=erin).count() == 3


def test_it_keeps_reps_and_outsiders_off_the_bulk_page(personas, client_for):
    assert client_for(personas.alice).get(reverse("reassign_bulk")).status_code == 403
    assert client_for(personas.charlie).get(reverse("reassign_bulk")).status_code == 403


def test_it_offers_only_visible_people_on_the_bulk_page(personas, client_for):
    r = client_for(personas.bob).post(
        reverse("reassign_bulk"),
        {"from_user": personas.charlie.pk, "to_user": personas.alice.pk, "reason": "x"},
    )
    assert b"data-reassign-preview" not in r.content


def test_it_renders_the_assignment_section_for_managers(personas, rf):
    from django.template.loader import render_to_string

    from steelyard.core.registry import registry

    cust = make_customer(personas.alice)
    sections = {s.key: s for s in registry.sections_for("customers.customer", personas.bob)}
    assert "assignment" in sections
    assert "assignment" not in {s.key for s in registry.sections_for("customers.customer", personas.alice)}
    request = rf.get("/")
    request.user = personas.bob
    html = render_to_string(
        sections["assignment"].template, sections["assignment"].context(request, cust), request
    )
    assert reverse("customer_reassign", args=[cust.pk]) in html


# --- API --------------------------------------------------------------------------------------


def test_it_lists_and_creates_territories_over_the_api(personas, client_for):
    territory("sh", provinces=["上海"], owner=personas.alice, org_unit=personas.team_a, strategy="owner")
    territory("bj", provinces=["北京"], owner=personas.charlie, org_unit=personas.team_c, strategy="owner")
    base = "/api/v1/customers/territories"
    codes = {t["code"] for t in client_for(personas.dora).get(base).json()["items"]}
    assert codes == {"sh"}
    assert {t["code"] for t in client_for(personas.admin).get(base).json()["items"]} == {"sh", "bj"}
    assert client_for(personas.alice).get(base).status_code == 403
    r = _post(
        client_for(personas.dora),
        base,
        {
            "name": "苏州",
            "code": "sz",
            "provinces": ["江苏省"],
            "owner_id": personas.bob.pk,
            "strategy": "owner",
        },
    )
    assert r.status_code == 201, r.content
    assert r.json()["provinces"] == ["江苏"]
    bad = _post(
        client_for(personas.dora),
        base,
        {"name": "x", "code": "x", "provinces": ["火星"], "owner_id": personas.bob.pk, "strategy": "owner"},
    )
    assert bad.status_code == 400
    tid = r.json()["id"]
    r = client_for(personas.dora).patch(
        f"{base}/{tid}", data=json.dumps({"priority": 7}), content_type="application/json"
    )
    assert r.status_code == 200 and r.json()["priority"] == 7
    bj = Territory.objects.get(code="bj")
    assert client_for(personas.dora).get(f"{base}/{bj.pk}").status_code == 404


def test_it_dry_runs_routing_over_the_api(personas, client_for):
    t = territory("sh", provinces=["上海"], members=[personas.alice], strategy="round_robin")
    r = _post(client_for(personas.bob), "/api/v1/customers/territories/route", {"province": "上海"})
    assert r.json() == {
        "territory_id": t.pk,
        "territory_code": "sh",
        "owner_id": personas.alice.pk,
        "owner_name": "Alice",
    }
    assert (
        _post(
            client_for(personas.alice), "/api/v1/customers/territories/route", {"province": "上海"}
        ).status_code
        == 403
    )
    t.refresh_from_db()
    assert t.rr_cursor == 0


def test_it_reassigns_over_the_api_from_each_side(personas, client_for):
    erin = rep("erin", personas.team_a, personas.bob)
    cust = make_customer(personas.alice)
    url = f"/api/v1/customers/territories/customers/{cust.pk}/reassign"
    payload = {"to_owner_id": erin.pk, "reason": "balance"}
    assert _post(client_for(personas.charlie), url, payload).status_code == 404
    assert _post(client_for(personas.alice), url, payload).status_code == 403
    r = _post(client_for(personas.bob), url, payload)
    assert r.status_code == 200 and r.json()["owner_id"] == erin.pk


def test_it_bulk_reassigns_over_the_api(personas, client_for):
    erin = rep("erin", personas.team_a, personas.bob)
    make_customer(personas.alice)
    url = "/api/v1/customers/territories/reassign"
    payload = {"from_user_id": personas.alice.pk, "to_user_id": erin.pk, "reason": "left"}
    assert _post(client_for(personas.alice), url, payload).status_code == 403
    assert _post(client_for(personas.charlie), url, payload).status_code in (403, 404)
    r = _post(client_for(personas.bob), url, payload)
    assert r.status_code == 200 and r.json()["customers"] == 1 and r.json()["job_id"] is None


def test_it_indents_sub_territories_in_tree_order(personas, client_for):
    east = territory(
        "east", provinces=["上海"], owner=personas.bob, org_unit=personas.team_a, strategy="owner"
    )
    territory(
        "east-ports",
        parent=east,
        owner=personas.alice,
        org_unit=personas.team_a,
        strategy="owner",
        priority=1,
    )
    html = client_for(personas.dora).get(reverse("territory_list")).content.decode()
    assert html.index('data-territory="east"') < html.index('data-territory="east-ports"')
