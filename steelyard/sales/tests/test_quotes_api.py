"""The quotes API from three sides (owner, manager, outsider): scoped list and detail, create, terms,
lines, the decisions, revise, the PDF; 400 with field details for a service's refusal, 422 for a malformed
body."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.utils import timezone

from steelyard.core.models import ApprovalRequest
from steelyard.core.services.approvals import approval_decide
from steelyard.sales.models import Opportunity, OpportunityStatus, Quote, QuoteStatus
from steelyard.sales.services import quotes as svc
from steelyard.sales.tests.quotes_world import make_world

pytestmark = pytest.mark.django_db
BASE = "/api/v1/sales/quotes"


@pytest.fixture
def world(personas):
    w = make_world(personas)
    w.quote = svc.quote_create(actor=personas.alice, opportunity=w.opportunity)
    w.other_quote = svc.quote_create(actor=personas.charlie, opportunity=w.other_opportunity)
    return w


def _send(client, method, url, payload=None):
    return getattr(client, method)(url, data=json.dumps(payload or {}), content_type="application/json")


def _json(response, status=200):
    assert response.status_code == status, response.content
    return response.json()


def _fields(response) -> set[str]:
    return {f["field"] for f in response.json()["error"]["fields"]}


def test_the_list_is_scoped_from_three_sides_and_filters(world, personas, client_for):
    for user in (personas.alice, personas.bob, personas.dora):
        assert [q["id"] for q in _json(client_for(user).get(BASE))["items"]] == [world.quote.pk], user
    assert [q["id"] for q in _json(client_for(personas.charlie).get(BASE))["items"]] == [world.other_quote.pk]
    assert len(_json(client_for(personas.admin).get(BASE))["items"]) == 2
    c = client_for(personas.alice)
    assert _json(c.get(BASE, {"status": "sent"}))["items"] == []
    assert len(_json(c.get(BASE, {"q": "港务"}))["items"]) == 1
    assert _json(c.get(BASE, {"customer": world.other_customer.pk}))["items"] == []
    response = c.get(BASE, {"date_from": "2025-02-30"})
    assert response.status_code == 422
    response = c.get(BASE, {"status": "nope"})
    assert response.status_code == 400 and _fields(response) == {"status"}


def test_one_quote_with_lines_and_404_outside_the_scope(world, personas, client_for):
    url = f"{BASE}/{world.quote.pk}"
    for user in (personas.alice, personas.bob, personas.admin):
        body = _json(client_for(user).get(url))
        assert body["number"] == world.quote.number and len(body["lines"]) == 2
    body = _json(client_for(personas.alice).get(url))
    assert body["lines"][0]["product_code"] == "MQ2535" and body["net_total"] == "2500000.00"
    assert body["tier"] == "A" and body["max_discount_pct"] == "10.00" and body["needs_approval"] is False
    assert body["credit"]["limit"] is None and body["credit"]["over"] is False
    assert client_for(personas.charlie).get(url).status_code == 404
    assert client_for(personas.charlie).get(f"{url}/pdf").status_code == 404
    response = client_for(personas.bob).get(f"{url}/pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"


def test_create_a_quote_with_its_own_lines(world, personas, client_for):
    c = client_for(personas.alice)
    payload = {
        "opportunity_id": world.opportunity.pk,
        "lines": [
            {"product_id": world.crane.pk, "quantity": "2", "discount_pct": "5"},
            {"description": "安装调试", "quantity": "1", "list_price": "80000", "unit": "项"},
        ],
        "language": "en",
        "delivery_terms": "到港交货",
    }
    body = _json(_send(c, "post", BASE, payload), 201)
    assert body["status"] == "draft" and body["language"] == "en"
    assert [ln["amount"] for ln in body["lines"]] == ["1900000.00", "80000.00"]
    assert body["net_total"] == "1980000.00" and body["discount_pct"] == "5.00"
    # Someone else's opportunity: refused, nothing made.
    response = _send(client_for(personas.charlie), "post", BASE, {**payload})
    assert response.status_code == 400 and _fields(response) == {"opportunity_id"}
    # A bad line names the line and the field; a malformed body is a 422.
    response = _send(
        c, "post", BASE, {**payload, "lines": [{"product_id": world.crane.pk, "discount_pct": "101"}]}
    )
    assert response.status_code == 400 and _fields(response) == {"lines.0.discount_pct"}
    response = _send(c, "post", BASE, {**payload, "lines": [{"quantity": "abc"}]})
    assert response.status_code == 422
    response = c.post(BASE, data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert Quote.objects.filter(opportunity=world.opportunity).count() == 2


def test_terms_and_lines_of_a_draft(world, personas, client_for):
    url = f"{BASE}/{world.quote.pk}"
    body = _json(_send(client_for(personas.bob), "patch", url, {"notes": "含运输", "payment_terms_days": 60}))
    assert body["notes"] == "含运输" and body["payment_terms_days"] == 60
    response = _send(client_for(personas.alice), "patch", url, {"valid_until": "2000-01-01"})
    assert response.status_code == 400 and _fields(response) == {"valid_until"}
    response = _send(client_for(personas.charlie), "patch", url, {"notes": "x"})
    assert response.status_code == 404
    lines = [{"product_id": world.crane.pk, "quantity": "1", "discount_pct": "20"}]
    body = _json(_send(client_for(personas.alice), "put", f"{url}/lines", {"lines": lines}))
    assert body["net_total"] == "800000.00" and body["needs_approval"] is True
    assert _send(client_for(personas.charlie), "put", f"{url}/lines", {"lines": lines}).status_code == 404


def test_submit_approve_send_accept_over_the_api(world, personas, client_for):
    url = f"{BASE}/{world.quote.pk}"
    c = client_for(personas.alice)
    _json(_send(c, "put", f"{url}/lines", {"lines": [{"product_id": world.crane.pk, "discount_pct": "12"}]}))
    response = _send(c, "post", f"{url}/send")
    assert response.status_code == 400 and response.json()["error"]["code"] == "validation_error"
    body = _json(_send(c, "post", f"{url}/submit", {"reason": "战略客户"}))
    assert body["status"] == "pending" and body["approval_status"] == "pending"
    request = ApprovalRequest.objects.get(pk=body["approval_id"])
    approval_decide(actor=personas.bob, request=request, decision="approve")
    approval_decide(actor=personas.dora, request=request, decision="approve")
    assert _json(_send(c, "post", f"{url}/send"))["status"] == "sent"
    assert _send(client_for(personas.charlie), "post", f"{url}/accept").status_code == 404
    body = _json(_send(c, "post", f"{url}/accept", {"reason": "relationship"}))
    assert body["status"] == "accepted" and body["contract_id"]
    opp = Opportunity.objects.get(pk=world.opportunity.pk)
    assert opp.status == OpportunityStatus.WON and opp.closed_on == timezone.localdate()


def test_withdraw_reject_and_revise_over_the_api(world, personas, client_for):
    url = f"{BASE}/{world.quote.pk}"
    c = client_for(personas.alice)
    _json(_send(c, "put", f"{url}/lines", {"lines": [{"product_id": world.crane.pk, "discount_pct": "30"}]}))
    assert _json(_send(c, "post", f"{url}/submit"))["status"] == "pending"
    assert _send(client_for(personas.bob), "post", f"{url}/withdraw").status_code == 403
    assert _json(_send(c, "post", f"{url}/withdraw"))["status"] == "draft"
    _json(_send(c, "put", f"{url}/lines", {"lines": [{"product_id": world.crane.pk, "discount_pct": "3"}]}))
    assert _json(_send(c, "post", f"{url}/submit"))["status"] == "approved"
    assert (
        _json(_send(client_for(personas.bob), "post", f"{url}/reject", {"reason": "太贵"}))["status"]
        == "rejected"
    )
    body = _json(_send(c, "post", f"{url}/revise"), 201)
    assert body["number"] == world.quote.number and body["revision"] == 2 and body["status"] == "draft"
    assert Quote.objects.get(pk=world.quote.pk).status == QuoteStatus.SUPERSEDED
    assert Decimal(body["net_total"]) == Decimal("970000.00")
    assert _send(client_for(personas.charlie), "post", f"{url}/revise").status_code == 404
