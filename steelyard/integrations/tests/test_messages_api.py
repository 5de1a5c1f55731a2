"""Customer messages over the API: scoped like the pages, one error format, keyset pages."""

from __future__ import annotations

import pytest
from django.utils import timezone

from steelyard.integrations.models import DeliveryStatus, NotificationEndpoint, OutboundMessage
from steelyard.integrations.tests.messages_support import arrange_order, make_endpoint
from steelyard.orders.models import OrderStatus
from steelyard.orders.services.status import order_record_status

pytestmark = pytest.mark.django_db

BASE = "/api/v1/integrations/messages"


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = "https://crm.example.com"


@pytest.fixture
def world(personas):
    customer, order = arrange_order(personas.alice, number="SO-API-A")
    endpoint = make_endpoint(customer, address="a@example.com")
    order_record_status(order=order, status=OrderStatus.SCHEDULED, at=timezone.now(), source="erp")
    c_customer, c_order = arrange_order(personas.charlie, name="北京查理机械有限公司", number="SO-API-C")
    make_endpoint(c_customer, address="c@example.com")
    order_record_status(order=c_order, status=OrderStatus.SCHEDULED, at=timezone.now(), source="erp")
    return {
        "customer": customer,
        "order": order,
        "endpoint": endpoint,
        "message": OutboundMessage.objects.get(endpoint=endpoint),
        "c_customer": c_customer,
        "c_order": c_order,
    }


def test_the_list_is_scoped_for_each_persona(world, personas, client_for):
    for user, expected in (
        (personas.alice, {"SO-API-A"}),
        (personas.bob, {"SO-API-A"}),
        (personas.charlie, {"SO-API-C"}),
        (personas.admin, {"SO-API-A", "SO-API-C"}),
    ):
        response = client_for(user).get(BASE)
        assert response.status_code == 200
        subjects = {item["subject"] for item in response.json()["items"]}
        assert {s.split("订单 ")[1].split(" ")[0] for s in subjects} == expected, user


def test_the_list_filters_and_pages(world, personas, client_for):
    admin = client_for(personas.admin)
    items = admin.get(f"{BASE}?customer={world['customer'].pk}").json()["items"]
    assert [i["id"] for i in items] == [world["message"].pk]
    assert items[0]["order_id"] == world["order"].pk and items[0]["channel"] == "email"
    page = admin.get(f"{BASE}?limit=1").json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    second = admin.get(f"{BASE}?limit=1&cursor={page['next_cursor']}").json()
    assert second["items"][0]["id"] != page["items"][0]["id"]
    bad = admin.get(f"{BASE}?status=nope")
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"][0]["field"] == "status"


def test_detail_and_retry_are_scoped(world, personas, client_for, django_capture_on_commit_callbacks):
    message = world["message"]
    assert client_for(personas.charlie).get(f"{BASE}/{message.pk}").status_code == 404
    assert client_for(personas.bob).get(f"{BASE}/{message.pk}").json()["address"] == "a@example.com"

    response = client_for(personas.alice).post(f"{BASE}/{message.pk}/retry")
    assert response.status_code == 400  # not failed

    OutboundMessage.objects.filter(pk=message.pk).update(status=DeliveryStatus.FAILED, attempts=6)
    assert client_for(personas.charlie).post(f"{BASE}/{message.pk}/retry").status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(personas.alice).post(f"{BASE}/{message.pk}/retry")
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.status == DeliveryStatus.DELIVERED


def test_endpoints_crud_for_owner_and_manager_only(world, personas, client_for):
    customer = world["customer"]
    assert client_for(personas.charlie).get(f"{BASE}/endpoints?customer_id={customer.pk}").status_code == 404
    listed = client_for(personas.bob).get(f"{BASE}/endpoints?customer_id={customer.pk}").json()
    assert [e["address"] for e in listed] == ["a@example.com"]

    body = {"customer_id": customer.pk, "channel": "webhook", "address": "https://erp.example/hook"}
    assert (
        client_for(personas.charlie)
        .post(f"{BASE}/endpoints", body, content_type="application/json")
        .status_code
        == 404
    )
    response = client_for(personas.alice).post(f"{BASE}/endpoints", body, content_type="application/json")
    assert response.status_code == 201
    created = response.json()
    assert len(created["secret"]) >= 32 and created["has_secret"]

    response = client_for(personas.alice).post(
        f"{BASE}/endpoints",
        {"customer_id": customer.pk, "channel": "email", "address": "nope"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"][0]["field"] == "address"

    eid = created["id"]
    patch = {"events": ["shipment.shipped"], "language": "en"}
    assert (
        client_for(personas.charlie)
        .patch(f"{BASE}/endpoints/{eid}", patch, content_type="application/json")
        .status_code
        == 404
    )
    response = client_for(personas.bob).patch(
        f"{BASE}/endpoints/{eid}", patch, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["events"] == ["shipment.shipped"]
    response = client_for(personas.bob).patch(
        f"{BASE}/endpoints/{eid}", {"events": ["order.created"]}, content_type="application/json"
    )
    assert response.status_code == 400

    assert client_for(personas.charlie).delete(f"{BASE}/endpoints/{eid}").status_code == 404
    assert client_for(personas.alice).delete(f"{BASE}/endpoints/{eid}").status_code == 204
    assert not NotificationEndpoint.objects.get(pk=eid).is_active


def test_send_a_test_message_over_the_api(world, personas, client_for):
    endpoint = world["endpoint"]
    assert client_for(personas.charlie).post(f"{BASE}/endpoints/{endpoint.pk}/test").status_code == 404
    response = client_for(personas.alice).post(f"{BASE}/endpoints/{endpoint.pk}/test")
    assert response.status_code == 202
    assert response.json()["event"] == "test"


def test_an_order_status_link_for_visible_orders_only(world, personas, client_for, client):
    url = f"{BASE}/orders/{world['order'].pk}/status-link"
    assert client_for(personas.charlie).get(url).status_code == 404
    data = client_for(personas.bob).get(url).json()
    assert data["url"].startswith("https://crm.example.com/track/")
    assert client.get(data["url"].removeprefix("https://crm.example.com")).status_code == 200
    assert client_for(personas.admin).get(f"{url}?lang=en").json()["url"].endswith("?lang=en")


def test_anonymous_callers_are_refused(world, client):
    assert client.get(BASE).status_code == 401
