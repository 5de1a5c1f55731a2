"""The inbound API: who may post, what comes back, batches, and the machine-user restriction."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from steelyard.core.services.tokens import api_token_create
from steelyard.customers.models import Customer
from steelyard.integrations.models import InboundBatch, InboundResult
from steelyard.orders.testing import make_product, make_system

URL = "/api/v1/integrations/inbound/"


def post(client: Client, path: str, body: object, token: str | None = None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.post(URL + path, data=json.dumps(body), content_type="application/json", **headers)


def get(client: Client, path: str, token: str | None = None, **params):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.get(URL + path, params, **headers)


@pytest.fixture
def erp(personas):
    return make_system("erp")


def customer_records(n: int, start: int = 0) -> list[dict]:
    return [
        {"external_id": f"C{i}", "version": 1, "legal_name": f"客户{i}有限公司"}
        for i in range(start, start + n)
    ]


@pytest.mark.django_db
def test_the_system_posts_a_batch_and_gets_one_result_per_record(erp):
    system, token = erp
    records = [*customer_records(2), {"external_id": "BAD", "version": 1, "credit_code": "123"}]
    response = post(Client(), "customer", {"records": records}, token)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["entity"] == "customer"
    assert body["counts"] == {"total": 3, "created": 2, "updated": 0, "unchanged": 0, "rejected": 1}
    assert [r["outcome"] for r in body["results"]] == ["created", "created", "rejected"]
    assert [r["position"] for r in body["results"]] == [0, 1, 2]
    fields = {r["field"] for r in body["results"][2]["reasons"]}
    assert fields == {"legal_name", "credit_code"}
    assert Customer.objects.count() == 2
    batch = InboundBatch.objects.get(pk=body["batch_id"])
    assert batch.system == system and batch.via == "api" and batch.actor == system.user
    assert InboundResult.objects.filter(batch=batch).count() == 3  # the API keeps every result
    # Replaying the call changes nothing.
    again = post(Client(), "customer", {"records": records}, token).json()
    assert [r["outcome"] for r in again["results"]] == ["unchanged", "unchanged", "rejected"]
    assert Customer.objects.count() == 2


@pytest.mark.django_db
def test_people_may_not_post(erp, personas, client_for):
    _system, _token = erp
    for user in (personas.alice, personas.admin):
        response = post(client_for(user), "customer", {"records": customer_records(1)})
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
    plain = api_token_create(actor=personas.admin, name="admin's", user=personas.admin).plain
    response = post(Client(), "customer", {"records": customer_records(1)}, plain)
    assert response.status_code == 403
    assert Customer.objects.count() == 0


@pytest.mark.django_db
def test_only_entities_the_system_may_write(erp):
    system, token = erp
    system.entities = ["order", "shipment"]
    system.save()
    response = post(Client(), "customer", {"records": customer_records(1)}, token)
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    assert post(Client(), "teapot", {"records": []}, token).status_code == 404
    system.is_active = False
    system.save()
    assert post(Client(), "order", {"records": []}, token).status_code == 403


@pytest.mark.django_db
def test_at_most_1000_records_per_call(erp):
    _system, token = erp
    response = post(Client(), "product_line", {"records": [{}] * 1001}, token)
    assert response.status_code == 413
    assert response.json()["error"]["fields"][0]["field"] == "body.records"
    assert InboundBatch.objects.count() == 0


@pytest.mark.django_db
def test_a_malformed_envelope_is_a_422(erp):
    _system, token = erp
    response = post(Client(), "customer", {"rows": []}, token)
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "body.payload.records"


@pytest.mark.django_db
def test_orders_over_the_api(erp, personas):
    _system, token = erp
    make_product("QY25K")
    post(
        Client(),
        "customer",
        {"records": [{"external_id": "C1", "version": 1, "legal_name": "甲有限公司", "owner": "alice"}]},
        token,
    )
    order = {
        "external_id": "O1",
        "version": 1,
        "customer": "C1",
        "ordered_on": "2025-04-01",
        "lines": [{"line_no": 1, "product": "QY25K", "quantity": 1, "unit_price": 5}],
    }
    body = post(
        Client(), "order", {"records": [order, {**order, "external_id": "O2", "customer": "C404"}]}, token
    ).json()
    assert [r["outcome"] for r in body["results"]] == ["created", "rejected"]
    assert body["results"][1]["reasons"][0]["field"] == "customer"
    assert body["results"][0]["object_id"]


@pytest.mark.django_db
def test_batches_are_read_by_their_system_and_administrators(erp, personas, client_for):
    system, token = erp
    other, other_token = make_system("mes", kind="mes")
    first = post(Client(), "customer", {"records": customer_records(3)}, token).json()["batch_id"]
    second = post(
        Client(),
        "product_line",
        {"records": [{"external_id": "L", "version": 1, "code": "L", "name": "L"}]},
        other_token,
    ).json()["batch_id"]

    listed = get(Client(), "batches", token)
    assert listed.status_code == 200
    assert [b["id"] for b in listed.json()["items"]] == [first]
    detail = get(Client(), f"batches/{first}", token, limit=2)
    assert detail.status_code == 200
    page = detail.json()
    assert page["system"] == "erp" and page["total"] == 3
    assert [r["position"] for r in page["results"]] == [0, 1] and page["next_cursor"]
    rest = get(Client(), f"batches/{first}", token, limit=2, cursor=page["next_cursor"]).json()
    assert [r["position"] for r in rest["results"]] == [2] and rest["next_cursor"] is None
    assert get(Client(), f"batches/{second}", token).status_code == 404

    admin = client_for(personas.admin)
    assert {b["id"] for b in admin.get(URL + "batches").json()["items"]} == {first, second}
    assert admin.get(URL + "batches", {"system": "mes"}).json()["items"][0]["id"] == second
    assert admin.get(URL + f"batches/{first}").status_code == 200
    for person in (personas.alice, personas.bob, personas.charlie):
        assert client_for(person).get(URL + "batches").status_code == 403
        assert client_for(person).get(URL + f"batches/{first}").status_code == 403


@pytest.mark.django_db
def test_the_integration_user_writes_only_through_the_integration_api(erp):
    _system, token = erp
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    me = Client().get("/api/v1/me", **auth)
    assert me.status_code == 200 and me.json()["is_machine"] is True
    created = Client().post(
        "/api/v1/customers/",
        data=json.dumps({"legal_name": "偷偷建的客户有限公司"}),
        content_type="application/json",
        **auth,
    )
    assert created.status_code == 403
    assert created.json()["error"]["code"] == "forbidden"
    assert Client().get("/api/v1/customers/", **auth).status_code == 403
    assert Client().get("/api/v1/orders/", **auth).status_code == 403
    assert Client().get("/api/v1/tokens", **auth).status_code == 403
    assert Client().post("/api/v1/me", **auth).status_code in (403, 405)
    assert Customer.objects.count() == 0
    assert get(Client(), "batches", token).status_code == 200


@pytest.mark.django_db
def test_people_keep_using_the_rest_of_the_api(personas):
    plain = api_token_create(actor=personas.alice, name="alice's").plain
    assert Client().get("/api/v1/customers/", HTTP_AUTHORIZATION=f"Bearer {plain}").status_code == 200
