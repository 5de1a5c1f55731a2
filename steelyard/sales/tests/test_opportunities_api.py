"""The opportunities API from every side: the scoped list with the page's filters, the deal with its parts,
create/update, lines, competitors, decision-makers, team, checklist (task and document), the gated stage
move (409, approval), close and reopen; 404 outside the scope, 400/422 for bad input."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from steelyard.core.models import ApprovalRequest
from steelyard.sales.models import ItemKind, Opportunity, OpportunityMember
from steelyard.sales.services import opportunities as services
from steelyard.sales.tests._opportunities_world import assert_cells_exact, build_world

pytestmark = pytest.mark.django_db
BASE = "/api/v1/sales/opportunities"


@pytest.fixture
def world(personas):
    w = build_world(personas)
    w.opp = services.opportunity_create(
        actor=personas.alice,
        customer=w.own,
        product_line=w.line,
        name="两台门机",
        expected_close_date=w.close,
        lines=[{"product": w.crane, "quantity": 2}],
    )
    services.opportunity_stage_move(actor=personas.alice, opportunity=w.opp, to_stage="needs")
    w.theirs = services.opportunity_create(
        actor=personas.charlie,
        customer=w.other,
        product_line=w.line,
        name="发电机组",
        expected_close_date=w.close,
    )
    return w


def _send(client, method, url, payload=None):
    return getattr(client, method)(url, data=json.dumps(payload or {}), content_type="application/json")


def _post(client, url, payload=None):
    return _send(client, "post", url, payload)


def _ok(response, status=200):
    assert response.status_code == status, response.content
    return response.json()


def _ids(response) -> set[int]:
    return {item["id"] for item in _ok(response)["items"]}


def test_the_list_is_scoped_from_every_side(world, personas, client_for):
    own, theirs = world.opp.pk, world.theirs.pk
    for user in (personas.alice, personas.bob, personas.dora):
        assert _ids(client_for(user).get(BASE)) == {own}, user
    assert _ids(client_for(personas.charlie).get(BASE)) == {theirs}
    assert _ids(client_for(personas.admin).get(BASE)) == {own, theirs}
    assert _ids(client_for(personas.charlie).get(BASE, {"customer": world.own.pk})) == set()
    services.opportunity_member_add(
        actor=personas.alice, opportunity=world.opp, user=personas.charlie, role="other"
    )
    assert _ids(client_for(personas.charlie).get(BASE, {"mine": "team"})) == {own}


def test_the_list_takes_the_pages_filters(world, personas, client_for):
    c = client_for(personas.admin)
    item = _ok(c.get(BASE, {"stage": "needs"}))["items"]
    assert [i["number"] for i in item] == [world.opp.number]
    assert item[0]["stage"] == "needs" and item[0]["customer_name"] == world.own.legal_name
    assert "tasks_missing" in item[0]["risk_flags"] and item[0]["amount"] == "2400000.00"
    assert _ids(c.get(BASE, {"q": "发电"})) == {world.theirs.pk}
    assert _ids(c.get(BASE, {"flag": "tasks_missing"})) == {world.opp.pk}
    assert _ids(c.get(BASE, {"amount_min": "1000000"})) == {world.opp.pk}
    assert _ids(c.get(BASE, {"owner": personas.charlie.pk})) == {world.theirs.pk}
    assert _ids(c.get(BASE, {"status": "won"})) == set()
    assert _ids(c.get(BASE, {"category": ["commit", "pipeline"]})) == {world.opp.pk, world.theirs.pk}
    assert _ids(c.get(BASE, {"category": ["commit", "won"]})) == set()
    assert c.get(BASE, {"category": "nope"}).status_code == 400
    response = c.get(BASE, {"close_from": "2030-01-01", "close_to": "2020-01-01"})
    assert response.status_code == 400 and response.json()["error"]["fields"][0]["field"] == "close_to"
    assert c.get(BASE, {"close_from": "soon"}).status_code == 422
    page = _ok(c.get(BASE, {"limit": 1}))
    assert len(page["items"]) == 1 and page["next_cursor"]


def test_the_deal_with_its_parts_and_404_outside_the_scope(world, personas, client_for):
    url = f"{BASE}/{world.opp.pk}"
    for user in (personas.alice, personas.bob, personas.dora, personas.admin):
        assert _ok(client_for(user).get(url))["id"] == world.opp.pk
    assert client_for(personas.charlie).get(url).status_code == 404
    assert client_for(personas.alice).get(f"{BASE}/999999").status_code == 404
    d = _ok(client_for(personas.alice).get(url))
    assert d["lines"][0]["product_code"] == "QZ-50" and d["lines"][0]["amount"] == "2400000.00"
    assert [m["role"] for m in d["members"]] == ["owner"]
    assert [(c["label"], c["satisfied"]) for c in d["checklist"]] == [
        ("关键决策人", False),
        ("现场调研", False),
    ]
    assert [v["stage"] for v in d["stage_history"]] == ["qualify", "needs"]
    assert d["pending_approval_id"] is None


def test_creating_and_updating(world, personas, client_for):
    c = client_for(personas.alice)
    payload = {
        "customer_id": world.own.pk,
        "product_line_id": world.line.pk,
        "name": "岸桥改造",
        "expected_close_date": world.close.isoformat(),
        "lines": [
            {"product_id": world.crane.pk},
            {"product_id": world.option.pk, "parent": 0, "quantity": "2"},
        ],
        "source": "tender",
    }
    d = _ok(_post(c, BASE, payload), 201)
    assert (
        d["stage"] == "qualify"
        and d["amount"] == "1370001.00"
        and d["lines"][1]["parent_id"] == d["lines"][0]["id"]
    )
    assert d["number"].startswith("OPP-")
    # outside the scope: charlie cannot create on alice's customer
    response = _post(client_for(personas.charlie), BASE, payload)
    assert response.status_code == 403
    response = _post(c, BASE, {**payload, "lines": [{"quantity": "-1"}]})
    assert response.status_code == 400 and response.json()["error"]["fields"][0]["field"] == "lines"
    assert _post(c, BASE, {"name": "x"}).status_code == 422

    url = f"{BASE}/{d['id']}"
    d = _ok(_send(c, "patch", url, {"probability": "55", "next_step": "招标答疑"}))
    assert d["probability"] == "55.00" and d["probability_is_manual"] and d["weighted_amount"] == "753500.55"
    d = _ok(_send(c, "patch", url, {"probability": None}))
    assert d["probability"] == "10.00" and not d["probability_is_manual"]
    response = _send(c, "patch", url, {"forecast_category": "won"})
    assert (
        response.status_code == 400 and response.json()["error"]["fields"][0]["field"] == "forecast_category"
    )
    assert _send(c, "patch", url, {"owner_id": personas.bob.pk}).status_code == 400  # not a manager
    d = _ok(_send(client_for(personas.bob), "patch", url, {"owner_id": personas.bob.pk}))
    assert d["owner"] == "bob"
    assert _send(client_for(personas.charlie), "patch", url, {"name": "x"}).status_code == 404
    assert_cells_exact()


def test_lines_competitors_contacts_and_team(world, personas, client_for):
    c = client_for(personas.alice)
    url = f"{BASE}/{world.opp.pk}"
    d = _ok(
        _send(
            c,
            "put",
            f"{url}/lines",
            {"lines": [{"description": "三年维保", "kind": "service", "unit_price": "30000"}]},
        )
    )
    assert d["amount"] == "30000.00" and d["lines"][0]["kind"] == "service"
    d = _ok(_post(c, f"{url}/competitors", {"competitor": "徐工", "threat": "high", "strengths": "价格低"}))
    assert d["competitors"][0]["name"] == "徐工" and "competitor" in d["risk_flags"]
    assert _post(c, f"{url}/competitors", {"competitor": "徐工", "threat": "huge"}).status_code == 400
    d = _ok(c.delete(f"{url}/competitors/{d['competitors'][0]['competitor_id']}"))
    assert d["competitors"] == []
    d = _ok(
        _post(
            c,
            f"{url}/contacts",
            {"contact_id": world.boss.pk, "role": "decision_maker", "attitude": "champion"},
        )
    )
    assert d["contacts"][0]["name"] == "王总" and d["checklist"][0]["satisfied"]
    assert (
        _post(
            c, f"{url}/contacts", {"contact_id": world.other.contacts.create(name="外人").pk, "role": "user"}
        ).status_code
        == 400
    )
    d = _ok(c.delete(f"{url}/contacts/{world.boss.pk}"))
    assert d["contacts"] == []
    d = _ok(_post(c, f"{url}/members", {"user_id": personas.charlie.pk, "role": "delivery_manager"}))
    member = next(m for m in d["members"] if m["username"] == "charlie")
    assert _ok(client_for(personas.charlie).get(url))["id"] == world.opp.pk  # the team sees it
    owner = OpportunityMember.objects.get(opportunity=world.opp, role="owner")
    assert c.delete(f"{url}/members/{owner.pk}").status_code == 400
    _ok(c.delete(f"{url}/members/{member['id']}"))
    assert client_for(personas.charlie).get(url).status_code == 404
    for method, path, payload in (
        ("put", "/lines", {"lines": []}),
        ("post", "/competitors", {"competitor": "徐工"}),
        ("post", "/contacts", {"contact_id": world.boss.pk, "role": "user"}),
        ("post", "/members", {"user_id": personas.charlie.pk, "role": "other"}),
    ):
        assert _send(client_for(personas.charlie), method, f"{url}{path}", payload).status_code == 404, path


def test_the_checklist_task_and_document(world, personas, client_for):
    from django.core.files.uploadedfile import SimpleUploadedFile

    c = client_for(personas.alice)
    stages = world.opp.playbook.stages
    task = stages.get(code="needs").items.get(kind=ItemKind.TASK)
    doc = stages.get(code="proposal").items.get(kind=ItemKind.DOCUMENT)
    field = stages.get(code="needs").items.get(kind=ItemKind.FIELD)
    url = f"{BASE}/{world.opp.pk}/checklist"
    d = _ok(_post(c, f"{url}/{task.pk}", {"done": True, "note": "已去现场"}))
    assert d["checklist"][1]["satisfied"] and d["checklist"][1]["note"] == "已去现场"
    assert _post(c, f"{url}/{field.pk}", {"done": True}).status_code == 400
    assert _post(c, f"{url}/{doc.pk}", {"done": True}).status_code == 400  # a document needs its file
    pdf = SimpleUploadedFile("技术方案.pdf", b"%PDF-1.4\n%x\n", content_type="application/pdf")
    response = c.post(f"{url}/{doc.pk}/document", {"file": pdf})
    assert response.status_code == 200, response.content
    assert _post(client_for(personas.charlie), f"{url}/{task.pk}", {"done": True}).status_code == 404


def test_the_gated_stage_move_close_and_reopen(world, personas, client_for):
    c = client_for(personas.alice)
    url = f"{BASE}/{world.opp.pk}"
    response = _post(c, f"{url}/stage", {"to_stage": "proposal"})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "stage_gate"
    assert [f["message"] for f in error["fields"]] == ["关键决策人", "现场调研"]
    assert all(f["field"].startswith("missing.") for f in error["fields"])
    assert _post(c, f"{url}/stage", {"to_stage": "proposal", "request_approval": True}).status_code == 400
    d = _ok(
        _post(c, f"{url}/stage", {"to_stage": "proposal", "request_approval": True, "reason": "本周必须报价"})
    )
    assert (
        d["moved"] is False
        and d["approval_id"]
        and [m["label"] for m in d["missing"]] == ["关键决策人", "现场调研"]
    )
    assert d["opportunity"]["pending_approval_id"] == d["approval_id"]
    assert ApprovalRequest.objects.get(pk=d["approval_id"]).kind == "sales.stage_gate"
    d = _ok(_post(c, f"{url}/stage", {"to_stage": world.opp.playbook.stages.get(code="qualify").pk}))
    assert d["moved"] and d["opportunity"]["stage"] == "qualify"
    assert _post(c, f"{url}/stage", {"to_stage": "nowhere"}).status_code == 400
    response = _post(c, f"{url}/close", {"outcome": "won"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "stage_gate"
    assert _post(c, f"{url}/close", {"outcome": "lost"}).status_code == 400
    d = _ok(_post(c, f"{url}/close", {"outcome": "lost", "reason": "price", "lost_to": "三一重工"}))
    assert d["status"] == "lost" and d["lost_to"] == "三一重工" and d["risk_flags"] == []
    assert _post(client_for(personas.charlie), f"{url}/reopen", {}).status_code == 404
    d = _ok(_post(c, f"{url}/reopen", {"reason": "重新招标"}))
    assert d["status"] == "open" and d["stage"] == "qualify"
    # the customer's owner only looks: writes are refused
    world.own.owner = personas.charlie
    world.own.save(update_fields=["owner"])
    assert _ok(client_for(personas.charlie).get(url))["id"] == world.opp.pk
    assert _post(client_for(personas.charlie), f"{url}/stage", {"to_stage": "needs"}).status_code == 403
    assert_cells_exact()


def test_a_won_deal_through_the_api(world, personas, client_for):
    from steelyard.sales.tests._opportunities_world import complete_to_negotiation

    complete_to_negotiation(world, personas.alice, world.opp)
    d = _ok(
        _post(
            client_for(personas.alice),
            f"{BASE}/{world.opp.pk}/stage",
            {"to_stage": "won", "close_reason": "product"},
        )
    )
    assert (
        d["moved"] and d["opportunity"]["status"] == "won" and d["opportunity"]["close_reason"] == "product"
    )
    assert Opportunity.objects.get(pk=world.opp.pk).weighted_amount == Decimal("2400000.00")


def test_an_api_token_acts_with_the_users_scope(world, personas):
    from django.test import Client

    from steelyard.core.services.tokens import api_token_create

    plain = api_token_create(actor=personas.charlie, name="脚本", expires_in_days=30).plain
    client = Client(HTTP_AUTHORIZATION=f"Bearer {plain}")
    assert _ids(client.get(BASE)) == {world.theirs.pk}
    assert client.get(f"{BASE}/{world.opp.pk}").status_code == 404
    assert (
        _post(client, f"{BASE}/{world.opp.pk}/close", {"outcome": "lost", "reason": "price"}).status_code
        == 404
    )
