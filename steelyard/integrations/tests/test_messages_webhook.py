"""Generic webhook channel: a signed JSON POST that the receiver verifies with the shared secret."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from django.utils import timezone

from steelyard.integrations.channels import ChannelError, WebhookChannel
from steelyard.integrations.models import DeliveryStatus, OutboundMessage
from steelyard.integrations.services import webhooks
from steelyard.integrations.tests.messages_support import (
    Received,
    arrange_order,
    http_receiver,
    make_endpoint,
)
from steelyard.orders.models import OrderStatus, Shipment
from steelyard.orders.services.status import order_record_status

pytestmark = pytest.mark.django_db

SECRET = "whsec-0123456789abcdef"


def verify(request: Received, secret: str) -> bool:
    """What a customer's receiver does: recompute the v1 signature over "timestamp.body"."""
    timestamp = request.headers["X-Steelyard-Timestamp"]
    scheme, _sep, signature = request.headers["X-Steelyard-Signature"].partition("=")
    expected = hmac.new(
        secret.encode(), f"{timestamp}.{request.body.decode('utf-8')}".encode(), hashlib.sha256
    ).hexdigest()
    return scheme == "v1" and hmac.compare_digest(signature, expected)


def accept_if_signed(request: Received) -> tuple[int, bytes]:
    return (204, b"") if verify(request, SECRET) else (401, b'{"error": "bad signature"}')


def test_it_posts_a_signed_body_the_receiver_verifies(personas, settings, django_capture_on_commit_callbacks):
    settings.SITE_URL = "https://crm.example.com"
    customer, order = arrange_order(personas.alice, number="SO-HOOK-1")
    with http_receiver(accept_if_signed) as receiver:
        make_endpoint(customer, channel="webhook", address=receiver.url, secret=SECRET, language="en")
        with django_capture_on_commit_callbacks(execute=True):
            order_record_status(order=order, status=OrderStatus.DELIVERED, at=timezone.now(), source="erp")

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert verify(request, SECRET)
    assert not verify(request, "another-secret")
    # ...and exactly as outbound webhooks are signed and checked.
    assert webhooks.verify(
        SECRET,
        request.body,
        request.headers["X-Steelyard-Timestamp"],
        request.headers["X-Steelyard-Signature"],
    )
    assert request.headers["X-Steelyard-Event"] == "order.status_changed"
    doc = request.json()
    message = OutboundMessage.objects.get()
    assert message.status == DeliveryStatus.DELIVERED
    assert doc["event"] == "order.status_changed"
    assert doc["id"] == message.pk
    assert doc["language"] == "en"
    assert doc["subject"] == message.title == "[Steelyard Group] Order SO-HOOK-1: Delivered"
    assert doc["link"].startswith("https://crm.example.com/track/") and doc["link"].endswith("?lang=en")
    assert doc["link"] in doc["body"]
    assert doc["data"]["order"] == "SO-HOOK-1"
    assert doc["data"]["order_id"] == order.pk
    assert doc["data"]["status"] == "delivered"
    assert doc["data"]["customer_id"] == customer.pk
    assert "amount" not in json.dumps(doc)


def test_a_receiver_refusing_the_signature_is_a_failed_attempt(personas, django_capture_on_commit_callbacks):
    customer, order = arrange_order(personas.alice)
    with http_receiver(accept_if_signed) as receiver:
        make_endpoint(customer, channel="webhook", address=receiver.url, secret="a-different-secret")
        with django_capture_on_commit_callbacks(execute=True):
            order_record_status(order=order, status=OrderStatus.SCHEDULED, at=timezone.now(), source="erp")
    message = OutboundMessage.objects.get()
    assert message.status == DeliveryStatus.RETRYING
    assert "401" in message.last_error and "bad signature" in message.last_error


def test_a_tampered_body_fails_verification():
    with http_receiver(accept_if_signed) as receiver:
        WebhookChannel().send(receiver.url, subject="s", body="原文", link="", secret=SECRET, payload={})
    request = receiver.requests[0]
    assert verify(request, SECRET)
    forged = Received(request.path, request.headers, request.body.replace("原文".encode(), "改了".encode()))
    assert not verify(forged, SECRET)


def test_it_refuses_to_send_unsigned():
    with pytest.raises(ChannelError):
        WebhookChannel().send("http://127.0.0.1:9/", subject="s", body="b", link="", secret="")


def test_a_shipment_event_carries_carrier_and_tracking(personas, django_capture_on_commit_callbacks):
    from steelyard.core.events import publish

    customer, order = arrange_order(personas.alice, number="SO-SHIP-1")
    shipment = Shipment.objects.create(
        number="SH-1",
        order=order,
        customer=customer,
        shipped_on=timezone.localdate(),
        carrier="顺丰速运",
        tracking_no="SF123",
    )
    with http_receiver(accept_if_signed) as receiver:
        make_endpoint(customer, channel="webhook", address=receiver.url, secret=SECRET)
        with django_capture_on_commit_callbacks(execute=True):
            publish("shipment.shipped", payload={"shipment": "SH-1", "order_id": order.pk}, subject=shipment)
    doc = receiver.requests[0].json()
    assert doc["event"] == "shipment.shipped"
    assert "已发货" in doc["subject"] and "SO-SHIP-1" in doc["subject"]
    assert "承运商：顺丰速运" in doc["body"] and "运单号：SF123" in doc["body"] and "SH-1" in doc["body"]
