"""Framework agreement pages and API from three sides (owner, manager, outsider): the list with filters and
export, a new agreement, the agreement page with its plan-vs-actual table and chart data, editing the plan,
in force / ended; the API's list, detail, create, lines, plan-vs-actual and its errors."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import pytest
from django.urls import reverse

from steelyard.orders.testing import make_order
from steelyard.sales.models import AgreementStatus, FrameworkAgreement, FrameworkLine
from steelyard.sales.services import agreements as svc
from steelyard.sales.tests.quotes_world import CUSTOMER_NAME, OTHER_NAME, make_world

pytestmark = pytest.mark.django_db
API = "/api/v1/sales/quotes/agreements"


@pytest.fixture
def world(personas):
    w = make_world(personas)
    w.agreement = svc.agreement_create(
        actor=personas.alice,
        customer=w.customer,
        title="港口设备年度框架协议",
        period="quarter",
        starts_on=dt.date(2025, 1, 1),
        ends_on=dt.date(2025, 12, 31),
    )
    svc.agreement_lines_set(
        actor=personas.alice,
        agreement=w.agreement,
        lines=[
            {"product": w.crane.pk, "period_start": "2025-01-01", "planned_quantity": "4"},
            {"product": w.hoist.pk, "period_start": "2025-04-01", "planned_quantity": "10"},
        ],
    )
    make_order(w.customer, lines=[(w.crane, 3, "1000000")], ordered_on=dt.date(2025, 2, 10))
    w.other_agreement = svc.agreement_create(
        actor=personas.charlie,
        customer=w.other_customer,
        title="电厂备件框架协议",
        period="month",
        starts_on=dt.date(2025, 1, 1),
        ends_on=dt.date(2025, 6, 30),
    )
    return w


def _body(response, status=200) -> str:
    assert response.status_code == status, response.status_code
    return response.content.decode()


def _send(client, method, url, payload=None):
    return getattr(client, method)(url, data=json.dumps(payload or {}), content_type="application/json")


# --- pages ---------------------------------------------------------------------------------------------


def test_the_list_and_export_are_scoped_from_three_sides(world, personas, client_for):
    url = reverse("sales_agreement_list")
    for user in (personas.alice, personas.bob, personas.dora, personas.admin):
        body = _body(client_for(user).get(url))
        assert CUSTOMER_NAME in body and (OTHER_NAME in body) == (user == personas.admin), user
    body = _body(client_for(personas.charlie).get(url))
    assert OTHER_NAME in body and CUSTOMER_NAME not in body
    assert f'data-agreement-card="{world.other_agreement.pk}"' in body
    for user, expected in (
        (personas.alice, world.agreement),
        (personas.bob, world.agreement),
        (personas.charlie, world.other_agreement),
    ):
        response = client_for(user).get(reverse("sales_agreement_export"))
        rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
        assert [r[0] for r in rows[1:]] == [expected.number], user


def test_the_list_filters(world, personas, client_for):
    c = client_for(personas.admin)
    url = reverse("sales_agreement_list")

    def numbers(params):
        return re.findall(
            r'data-agreement="\d+">\s*<td class="min-w-0"><a class="fw-semibold" href="[^"]+">([^<]+)<',
            _body(c.get(url, params)),
        )

    a, o = world.agreement.number, world.other_agreement.number
    assert sorted(numbers({})) == sorted([a, o])
    assert numbers({"period": "month"}) == [o]
    assert numbers({"q": "港口"}) == [a]
    assert numbers({"customer": world.customer.pk}) == [a]
    assert numbers({"date_from": "2025-07-01"}) == [a]  # the other ended on June 30
    assert numbers({"status": "active"}) == []
    assert "invalid-feedback" in _body(c.get(url, {"date_from": "x"}))


def test_the_agreement_page_shows_plan_against_orders_and_404s_outside(world, personas, client_for):
    url = reverse("sales_agreement_detail", args=[world.agreement.pk])
    for user in (personas.alice, personas.bob, personas.dora, personas.admin):
        body = _body(client_for(user).get(url))
        assert 'data-cell="MQ2535|2025-01-01" data-planned="4" data-actual="3"' in body, user
        assert "75.0%" in body and 'id="agreement-chart-data"' in body
    assert client_for(personas.charlie).get(url).status_code == 404
    data = re.search(r'<script id="agreement-chart-data" type="application/json">(.*?)</script>', body).group(
        1
    )
    assert json.loads(data)["planned"] == [4.0, 10.0, 0.0, 0.0]


def test_a_new_agreement_for_a_customer(world, personas, client_for):
    c = client_for(personas.alice)
    url = reverse("sales_agreement_create")
    assert f'data-candidate="{world.customer.pk}"' in _body(c.get(url))
    assert client_for(personas.charlie).get(url, {"customer": world.customer.pk}).status_code == 404
    body = _body(
        c.post(
            url,
            {
                "customer": world.customer.pk,
                "title": "",
                "period": "month",
                "starts_on": "2025-02-01",
                "ends_on": "2025-01-01",
            },
        ),
        400,
    )
    assert body.count("invalid-feedback") >= 2
    response = c.post(
        url,
        {
            "customer": world.customer.pk,
            "title": "备件月度协议",
            "period": "month",
            "starts_on": "2025-01-01",
            "ends_on": "2025-06-30",
        },
    )
    assert response.status_code == 302
    new = FrameworkAgreement.objects.get(title="备件月度协议")
    assert new.customer == world.customer and new.created_by == personas.alice


def test_editing_the_plan_on_the_page(world, personas, client_for):
    c = client_for(personas.bob)  # the manager
    url = reverse("sales_agreement_plan", args=[world.agreement.pk])
    response = c.post(
        url,
        {"action": "add", "product": world.hoist.pk, "period_start": "2025-08-20", "planned_quantity": "7"},
    )
    assert response.status_code == 302
    response = c.post(
        url, {f"plan-{world.crane.pk}-2025-01-01": "5", f"plan-{world.hoist.pk}-2025-04-01": ""}
    )
    assert response.status_code == 302
    plan = {
        (ln.product_id, ln.period_start): ln.planned_quantity
        for ln in FrameworkLine.objects.filter(agreement=world.agreement)
    }
    assert plan == {(world.crane.pk, dt.date(2025, 1, 1)): 5, (world.hoist.pk, dt.date(2025, 7, 1)): 7}
    body = _body(
        c.post(
            url,
            {
                "action": "add",
                "product": world.hoist.pk,
                "period_start": "2026-03-01",
                "planned_quantity": "1",
            },
        ),
        400,
    )
    assert "data-action-errors" in body
    assert client_for(personas.charlie).post(url, {}).status_code == 404


def test_in_force_and_ended_from_the_page(world, personas, client_for):
    c = client_for(personas.alice)
    assert c.post(reverse("sales_agreement_activate", args=[world.agreement.pk])).status_code == 302
    assert FrameworkAgreement.objects.get(pk=world.agreement.pk).status == AgreementStatus.ACTIVE
    assert (
        client_for(personas.charlie)
        .post(reverse("sales_agreement_end", args=[world.agreement.pk]))
        .status_code
        == 404
    )
    assert c.post(reverse("sales_agreement_end", args=[world.agreement.pk])).status_code == 302
    body = _body(c.get(reverse("sales_agreement_detail", args=[world.agreement.pk])))
    assert 'name="plan-' not in body  # ended: read only
    body = _body(c.post(reverse("sales_agreement_activate", args=[world.agreement.pk])), 400)
    assert "data-action-errors" in body


def test_the_list_query_count_does_not_grow_with_rows(
    world, personas, client_for, django_assert_max_num_queries
):
    for i in range(20):
        svc.agreement_create(
            actor=personas.alice,
            customer=world.customer,
            title=f"协议{i}",
            starts_on=dt.date(2025, 1, 1),
            ends_on=dt.date(2025, 12, 31),
        )
    c = client_for(personas.alice)
    with django_assert_max_num_queries(8):
        body = _body(c.get(reverse("sales_agreement_list")))
    assert body.count("data-agreement-card=") == 21
    with django_assert_max_num_queries(16):
        _body(c.get(reverse("sales_agreement_detail", args=[world.agreement.pk])))


# --- API -----------------------------------------------------------------------------------------------


def test_the_api_lists_and_reads_in_scope_only(world, personas, client_for):
    for user in (personas.alice, personas.bob, personas.dora):
        assert [a["id"] for a in client_for(user).get(API).json()["items"]] == [world.agreement.pk], user
    assert [a["id"] for a in client_for(personas.charlie).get(API).json()["items"]] == [
        world.other_agreement.pk
    ]
    url = f"{API}/{world.agreement.pk}"
    body = client_for(personas.bob).get(url).json()
    assert body["number"] == world.agreement.number and len(body["lines"]) == 2
    assert client_for(personas.charlie).get(url).status_code == 404
    assert client_for(personas.charlie).get(f"{url}/plan-vs-actual").status_code == 404
    pva = client_for(personas.alice).get(f"{url}/plan-vs-actual").json()
    cell = next(c for c in pva["cells"] if c["product_code"] == "MQ2535" and c["period"] == "2025 Q1")
    assert (cell["planned"], cell["actual"], cell["attainment_pct"]) == ("4.00", "3.000", "75.0")
    assert pva["planned"] == "14.00" and pva["attainment_pct"] == "21.4"


def test_the_api_creates_and_plans_with_field_errors(world, personas, client_for):
    c = client_for(personas.alice)
    payload = {
        "customer_id": world.customer.pk,
        "title": "API协议",
        "period": "month",
        "starts_on": "2025-01-01",
        "ends_on": "2025-03-31",
    }
    body = _send(c, "post", API, payload).json()
    assert body["status"] == "draft" and body["period"] == "month"
    response = _send(client_for(personas.charlie), "post", API, payload)
    assert response.status_code == 400 and response.json()["error"]["fields"][0]["field"] == "customer_id"
    response = _send(c, "post", API, {**payload, "ends_on": "2024-01-01"})
    assert response.status_code == 400 and {f["field"] for f in response.json()["error"]["fields"]} == {
        "ends_on"
    }
    assert _send(c, "post", API, {**payload, "starts_on": "soon"}).status_code == 422
    url = f"{API}/{body['id']}"
    lines = {"lines": [{"product_id": world.crane.pk, "period_start": "2025-02-17", "planned_quantity": "3"}]}
    body = _send(c, "put", f"{url}/lines", lines).json()
    assert body["lines"] == [
        {
            "product_id": world.crane.pk,
            "product_code": "MQ2535",
            "period_start": "2025-02-01",
            "planned_quantity": "3.00",
        }
    ]
    bad = {"lines": [{"product_id": world.crane.pk, "period_start": "2025-05-01", "planned_quantity": "3"}]}
    response = _send(c, "put", f"{url}/lines", bad)
    assert (
        response.status_code == 400
        and response.json()["error"]["fields"][0]["field"] == "lines.0.period_start"
    )
    assert _send(client_for(personas.charlie), "put", f"{url}/lines", lines).status_code == 404
    assert _send(c, "patch", url, {"title": "改名"}).json()["title"] == "改名"
    assert _send(c, "post", f"{url}/activate").json()["status"] == "active"
    assert _send(client_for(personas.bob), "post", f"{url}/end").json()["status"] == "ended"
    assert _send(c, "post", f"{url}/end").status_code == 400
