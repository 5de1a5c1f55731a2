"""The order-to-cash API from three sides: scoped lists with the pages' filters and cursors, the order
with its lines and timeline, the CRM's status steps, and customer balances."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from steelyard.customers.testing import make_customer
from steelyard.orders.models import OrderStatus
from steelyard.orders.testing import make_order, make_product, make_product_line
from steelyard.orders.tests._o2c import EXPECTED, book

pytestmark = pytest.mark.django_db
BASE = "/api/v1/orders"
LISTS = ("/", "/contracts", "/shipments", "/invoices", "/payments")


@pytest.fixture
def world(personas):
    own = make_customer(personas.alice, name="爱丽丝的港口客户")
    other = make_customer(personas.charlie, name="查理的电厂客户")
    return {"own": own, "other": other, "a": book(own, prefix="A-"), "c": book(other, prefix="C-")}


def _items(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["items"]


def _customers(response) -> set[int]:
    return {item["customer_id"] for item in _items(response)}


def _post(client, url, payload):
    return client.post(url, data=json.dumps(payload), content_type="application/json")


@pytest.mark.parametrize("path", LISTS)
def test_every_list_is_scoped_from_three_sides(world, personas, client_for, path):
    url = f"{BASE}{path}"
    own, other = world["own"].pk, world["other"].pk
    for user in (personas.alice, personas.bob, personas.dora):
        assert _customers(client_for(user).get(url)) == {own}, (path, user)
    assert _customers(client_for(personas.charlie).get(url)) == {other}
    assert _customers(client_for(personas.admin).get(url)) == {own, other}
    assert _items(client_for(personas.charlie).get(url, {"customer": own})) == []


def test_the_order_list_uses_the_pages_filters(world, personas, client_for):
    c = client_for(personas.alice)

    def numbers(params):
        return [o["number"] for o in _items(c.get(f"{BASE}/", params))]

    assert numbers({}) == ["A-SO-B", "A-SO-C", "A-SO-D", "A-SO-A"]
    assert numbers({"open": "true"}) == ["A-SO-B", "A-SO-A"]
    assert numbers({"status": "accepted"}) == ["A-SO-D"]
    assert numbers({"product_line": make_product_line("CRANE").pk}) == ["A-SO-A"]
    assert numbers(
        {"q": "港口", "date_from": (timezone.localdate() - dt.timedelta(days=45)).isoformat()}
    ) == [
        "A-SO-B",
        "A-SO-C",
    ]
    r = c.get(f"{BASE}/", {"status": "bogus"})
    assert r.status_code == 400 and r.json()["error"]["fields"][0]["field"] == "status"
    r = c.get(f"{BASE}/", {"date_from": "yesterday"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "query.date_from"


def test_lists_page_with_a_cursor(personas, client_for):
    customer = make_customer(personas.alice)
    product = make_product()
    for i in range(5):
        make_order(customer, number=f"PG-{i}", lines=[(product, 1, "1")])
    c = client_for(personas.alice)
    first = c.get(f"{BASE}/", {"limit": 3}).json()
    assert len(first["items"]) == 3 and first["next_cursor"]
    rest = c.get(f"{BASE}/", {"limit": 3, "cursor": first["next_cursor"]}).json()
    assert len(rest["items"]) == 2 and rest["next_cursor"] is None
    assert {o["number"] for o in first["items"] + rest["items"]} == {f"PG-{i}" for i in range(5)}
    assert c.get(f"{BASE}/", {"cursor": "garbage"}).status_code == 400


def test_invoices_say_what_is_paid_open_and_overdue(world, personas, client_for):
    rows = {i["number"]: i for i in _items(client_for(personas.bob).get(f"{BASE}/invoices"))}
    assert rows["A-INV-1"]["paid"] == "500000.25" and rows["A-INV-1"]["open_amount"] == "499999.75"
    assert rows["A-INV-1"]["overdue"] is True and rows["A-INV-2"]["overdue"] is False
    assert rows["A-INV-4"]["open_amount"] == "0.00" and rows["A-INV-3"]["open_amount"] == "0.00"
    overdue = _items(client_for(personas.bob).get(f"{BASE}/invoices", {"overdue": "true"}))
    assert [i["number"] for i in overdue] == ["A-INV-1"]
    unpaid = _items(client_for(personas.bob).get(f"{BASE}/invoices", {"unpaid": "true"}))
    assert sorted(i["number"] for i in unpaid) == ["A-INV-1", "A-INV-2"]


def test_shipments_carry_their_serial_numbers(world, personas, client_for):
    by_order = _items(client_for(personas.alice).get(f"{BASE}/shipments", {"order_id": world["a"]["d"].pk}))
    assert [s["order_number"] for s in by_order] == ["A-SO-D"]
    rows = _items(client_for(personas.alice).get(f"{BASE}/shipments", {"q": "A-SO-A"}))
    assert len(rows) == 1 and rows[0]["order_number"] == "A-SO-A"
    assert rows[0]["lines"] == [
        {
            "order_line_no": 1,
            "product_code": rows[0]["lines"][0]["product_code"],
            "quantity": "1.000",
            "serial_numbers": ["A-CR-0001"],
        }
    ]


def test_payments_and_contracts_filter(world, personas, client_for):
    c = client_for(personas.alice)
    assert [p["number"] for p in _items(c.get(f"{BASE}/payments", {"q": "A-INV-4"}))] == ["A-PAY-3"]
    assert [k["number"] for k in _items(c.get(f"{BASE}/contracts", {"status": "signed"}))] == [
        "A-HT-2025-001"
    ]
    assert _items(c.get(f"{BASE}/contracts", {"status": "terminated"})) == []


def test_an_order_comes_with_lines_and_timeline_and_404s_outside_the_scope(world, personas, client_for):
    order = world["a"]["a"]
    url = f"{BASE}/{order.pk}"
    for user in (personas.alice, personas.bob, personas.dora, personas.admin):
        assert client_for(user).get(url).status_code == 200
    r = client_for(personas.charlie).get(url)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    body = client_for(personas.alice).get(url).json()
    assert body["number"] == "A-SO-A" and body["customer_name"] == "爱丽丝的港口客户"
    assert body["lines"][0]["quantity"] == "2.000" and body["lines"][0]["shipped_quantity"] == "1.000"
    assert body["lines"][0]["product_line"] == "CRANE"
    steps = [(s["status"], s["state"]) for s in body["timeline"]]
    assert steps == [
        ("confirmed", "done"),
        ("scheduled", "done"),
        ("in_production", "done"),
        ("shipped", "current"),
        ("delivered", "future"),
        ("installed", "future"),
        ("accepted", "future"),
    ]
    assert body["timeline"][2]["by"] == "MES"


def test_the_crm_records_its_steps_over_the_api(world, personas, client_for):
    order = world["a"]["a"]
    url = f"{BASE}/{order.pk}/status"
    r = _post(client_for(personas.bob), url, {"status": "delivered", "note": "签收"})
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["status"] == "delivered"
    assert [s for s in body["timeline"] if s["state"] == "current"][0]["by"] == "Bob"
    at = (timezone.now() - dt.timedelta(hours=1)).isoformat()
    r = _post(client_for(personas.admin), url, {"status": "installed", "at": at})
    assert r.status_code == 201 and r.json()["status"] == "installed"
    order.refresh_from_db()
    assert order.status == OrderStatus.INSTALLED


def test_the_status_route_refuses_with_the_one_error_format(world, personas, client_for):
    order = world["a"]["a"]
    url = f"{BASE}/{order.pk}/status"
    alice = client_for(personas.alice)
    r = _post(alice, url, {"status": "shipped"})
    assert r.status_code == 400 and r.json()["error"]["fields"][0]["field"] == "status"
    future = (timezone.now() + dt.timedelta(days=3)).isoformat()
    r = _post(alice, url, {"status": "delivered", "at": future})
    assert r.status_code == 400 and r.json()["error"]["fields"][0]["field"] == "at"
    r = _post(alice, url, {"status": "delivered", "at": "2025-01-01T10:00:00"})  # no time zone
    assert r.status_code == 400 and r.json()["error"]["fields"][0]["field"] == "at"
    r = _post(alice, url, {"at": "soon"})
    assert r.status_code == 422
    assert {f["field"] for f in r.json()["error"]["fields"]} == {"body.payload.status", "body.payload.at"}
    r = alice.post(url, data="{not json", content_type="application/json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"
    assert _post(client_for(personas.charlie), url, {"status": "delivered"}).status_code == 404
    assert _post(alice, f"{BASE}/999999/status", {"status": "delivered"}).status_code == 404
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED


def test_customer_balances_over_the_api(world, personas, client_for):
    url = f"{BASE}/customers/{world['own'].pk}/balances"
    for user in (personas.alice, personas.bob, personas.admin):
        body = client_for(user).get(url).json()
        assert body == {"customer_id": world["own"].pk, **{k: f"{v:.2f}" for k, v in EXPECTED.items()}}
    assert client_for(personas.charlie).get(url).status_code == 404
    assert client_for(personas.alice).get(f"{BASE}/customers/999999/balances").status_code == 404


def test_the_api_needs_a_sign_in(world):
    from django.test import Client

    for path in (*LISTS, f"/{world['a']['a'].pk}", f"/customers/{world['own'].pk}/balances"):
        assert Client().get(f"{BASE}{path}").status_code == 401
