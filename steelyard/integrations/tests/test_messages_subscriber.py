"""From an event to messages: which endpoints get one, in which language and wording, at what cost."""

from __future__ import annotations

import pytest
from django.utils import timezone, translation

from steelyard.core.events import Event, publish
from steelyard.customers.models import Contact
from steelyard.integrations.models import DeliveryStatus, MessageTemplate, OutboundMessage
from steelyard.integrations.services.messages import (
    link_in,
    message_template_save,
    on_customer_event,
    order_status_token_read,
)
from steelyard.integrations.tests.messages_support import arrange_order, make_endpoint
from steelyard.orders.models import OrderStatus
from steelyard.orders.services.status import order_record_status

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = "https://crm.example.com"


def _event(order, status=OrderStatus.SCHEDULED):
    order.status, order.status_at = status, timezone.now()
    return Event("order.status_changed", {"order": order.number, "order_id": order.pk}, subject=order)


def test_it_costs_one_query_when_the_customer_has_no_endpoints(personas, django_assert_num_queries):
    _customer, order = arrange_order(personas.alice)
    event = _event(order)
    with django_assert_num_queries(1):
        on_customer_event(event)
    assert not OutboundMessage.objects.exists()


def test_it_ignores_events_not_meant_for_customers(personas, django_assert_num_queries):
    customer, order = arrange_order(personas.alice)
    make_endpoint(customer)
    with django_assert_num_queries(0):
        on_customer_event(Event("order.created", {"order_id": order.pk}, subject=order))
    assert not OutboundMessage.objects.exists()


def test_it_writes_one_message_per_interested_active_endpoint(personas):
    customer, order = arrange_order(personas.alice)
    everything = make_endpoint(customer, address="all@example.com")
    status_only = make_endpoint(customer, address="status@example.com", events=["order.status_changed"])
    make_endpoint(customer, address="ship@example.com", events=["shipment.shipped"])
    make_endpoint(customer, address="old@example.com", is_active=False)
    _other_customer, _other = arrange_order(personas.alice, name="别的客户有限公司")
    make_endpoint(_other_customer, address="other@example.com")

    order_record_status(order=order, status=OrderStatus.SCHEDULED, at=timezone.now(), source="erp")

    messages = list(OutboundMessage.objects.order_by("pk"))
    assert [m.endpoint_id for m in messages] == [everything.pk, status_only.pk]
    for m in messages:
        assert m.event == "order.status_changed"
        assert m.subject_type == "orders.salesorder" and m.subject_id == order.pk
        assert m.status == DeliveryStatus.PENDING and m.attempts == 0
        assert order_status_token_read(link_in(m.body).split("/track/")[1].rstrip("/")) == order.pk


def test_it_renders_in_each_endpoints_language_and_names_the_contact(personas):
    customer, order = arrange_order(personas.alice, number="SO-LANG-1")
    contact = Contact.objects.create(customer=customer, name="王建国")
    make_endpoint(customer, address="zh@example.com", contact=contact)
    make_endpoint(customer, address="en@example.com", language="en")

    order_record_status(order=order, status=OrderStatus.SHIPPED, at=timezone.now(), source="erp")

    zh, en = OutboundMessage.objects.order_by("pk")
    with translation.override("zh-hans"):
        zh_label = str(OrderStatus.SHIPPED.label)
    assert zh.language == "zh-hans"
    assert zh.title == f"【Steelyard Group】订单 SO-LANG-1 状态更新：{zh_label}"
    assert zh.body.startswith("王建国，您好！")
    assert en.language == "en"
    assert en.title == "[Steelyard Group] Order SO-LANG-1: Shipped"
    assert en.body.startswith("Dear 上海振华重工有限公司,")
    assert link_in(en.body).endswith("?lang=en") and not link_in(zh.body).endswith("?lang=en")


def test_an_administrators_wording_wins_and_a_channel_wording_wins_over_it(personas):
    customer, order = arrange_order(personas.alice, number="SO-TPL-1")
    make_endpoint(customer, address="mail@example.com")
    make_endpoint(customer, channel="wecom", address="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k")
    message_template_save(
        actor=personas.admin,
        event="order.status_changed",
        language="zh-hans",
        subject="{{ customer }}：订单{{ order_number }}有新进展",
        body="状态：{{ status }}\n{{ link }}",
    )
    message_template_save(
        actor=personas.admin,
        event="order.status_changed",
        language="zh-hans",
        channel="wecom",
        subject="群消息 {{ order_number }}",
        body="{{ order_number }} → {{ status }} {{ link }}",
    )

    order_record_status(order=order, status=OrderStatus.PRODUCED, at=timezone.now(), source="mes")

    mail, wecom = OutboundMessage.objects.order_by("pk")
    assert mail.title == "上海振华重工有限公司：订单SO-TPL-1有新进展"
    assert mail.body.startswith("状态：") and link_in(mail.body)
    assert wecom.title == "群消息 SO-TPL-1"


def test_text_is_not_html_escaped(personas):
    customer, order = arrange_order(personas.alice, name="A&B <重工> 公司")
    make_endpoint(customer)
    order_record_status(order=order, status=OrderStatus.SCHEDULED, at=timezone.now(), source="erp")
    assert OutboundMessage.objects.get().body.startswith("A&B <重工> 公司，您好！")


def test_a_broken_override_falls_back_to_the_shipped_wording(personas):
    customer, order = arrange_order(personas.alice, number="SO-BROKEN")
    make_endpoint(customer)
    MessageTemplate.objects.create(
        event="order.status_changed", language="zh-hans", subject="{% if %}", body="{{ link }}"
    )
    order_record_status(order=order, status=OrderStatus.SCHEDULED, at=timezone.now(), source="erp")
    assert OutboundMessage.objects.get().title.startswith("【Steelyard Group】订单 SO-BROKEN")


def test_a_failing_subscriber_never_undoes_the_order_change(personas, monkeypatch):
    from steelyard.integrations.services import messages as services

    customer, order = arrange_order(personas.alice)
    make_endpoint(customer)

    def boom(**kwargs):
        raise RuntimeError("template engine down")

    monkeypatch.setattr(services, "_messages_create", boom)
    order_record_status(order=order, status=OrderStatus.SCHEDULED, at=timezone.now(), source="erp")
    order.refresh_from_db()
    assert order.status == OrderStatus.SCHEDULED
    assert not OutboundMessage.objects.exists()


def test_a_shipment_event_by_payload_only_finds_its_order(personas):
    customer, order = arrange_order(personas.alice, number="SO-PAY-1")
    make_endpoint(customer, events=["shipment.shipped"])
    publish(
        "shipment.shipped",
        payload={"customer_id": customer.pk, "order_id": order.pk, "carrier": "中通", "tracking_no": "ZT1"},
    )
    message = OutboundMessage.objects.get()
    assert "SO-PAY-1" in message.title and "中通" in message.body and "ZT1" in message.body


def test_a_wording_without_the_link_still_carries_it(personas):
    customer, order = arrange_order(personas.alice, number="SO-NOLINK")
    make_endpoint(customer)
    message_template_save(
        actor=personas.admin,
        event="order.status_changed",
        language="zh-hans",
        subject="订单{{ order_number }}",
        body="{{ order_number }} 状态：{{ status }}",
    )
    order_record_status(order=order, status=OrderStatus.SCHEDULED, at=timezone.now(), source="erp")
    body = OutboundMessage.objects.get().body
    assert body.startswith("SO-NOLINK 状态：")
    assert order_status_token_read(link_in(body).split("/track/")[1].rstrip("/")) == order.pk
