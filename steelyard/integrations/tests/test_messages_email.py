"""Email to a customer: a real SMTP server receives the Chinese message for an order status change."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re

import pytest
from django.utils import timezone, translation

from steelyard.integrations.models import DeliveryStatus, OutboundMessage
from steelyard.integrations.tests.messages_support import arrange_order, make_endpoint, smtp_server
from steelyard.orders.models import OrderStatus
from steelyard.orders.services.status import order_record_status

pytestmark = pytest.mark.django_db


@pytest.fixture
def smtp(settings):
    with smtp_server() as (sink, port):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = port
        settings.EMAIL_HOST_USER = ""
        settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_USE_TLS = False
        settings.EMAIL_USE_SSL = False
        settings.EMAIL_TIMEOUT = 10
        settings.DEFAULT_FROM_EMAIL = "crm@steelyard.example"
        settings.SITE_URL = "https://crm.example.com"
        yield sink


def _parts(raw: bytes) -> tuple[email.message.EmailMessage, str, str]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    return msg, text, html


def test_it_emails_the_status_change_in_chinese_through_a_real_smtp_server(
    personas, smtp, client, django_capture_on_commit_callbacks
):
    customer, order = arrange_order(personas.alice, number="SO-2026-0042")
    make_endpoint(customer, channel="email", address="buyer@zhenhua.example")
    at = timezone.now().replace(microsecond=0) + dt.timedelta(minutes=1)

    with django_capture_on_commit_callbacks(execute=True):
        order_record_status(order=order, status=OrderStatus.SCHEDULED, at=at, source="erp")

    assert len(smtp.envelopes) == 1
    envelope = smtp.envelopes[0]
    assert envelope.rcpt_tos == ["buyer@zhenhua.example"]
    assert envelope.mail_from == "crm@steelyard.example"
    msg, text, html = _parts(envelope.content)
    with translation.override("zh-hans"):
        label = str(OrderStatus.SCHEDULED.label)
    assert msg["Subject"].strip() == f"【Steelyard Group】订单 SO-2026-0042 状态更新：{label}"
    assert "上海振华重工有限公司，您好！" in text
    assert f"您的订单 SO-2026-0042 于 {at.astimezone(timezone.get_current_timezone()):%Y}年" in text
    assert f"更新为“{label}”" in text
    link = re.search(r"https://crm\.example\.com/track/\S+/", text).group(0)
    assert "查看订单进度：" + link in text
    assert f'<a href="{link}"' in html and "<h1>" in html
    assert msg.get_body(preferencelist=("plain",)).get_content_charset() == "utf-8"

    # The link in the mail opens the order's status page.
    response = client.get(link.removeprefix("https://crm.example.com"))
    assert response.status_code == 200
    assert "SO-2026-0042" in response.content.decode()

    sent = OutboundMessage.objects.get()
    assert sent.status == DeliveryStatus.DELIVERED
    assert sent.attempts == 1 and sent.sent_at is not None and sent.last_error == ""


def test_it_sends_nothing_before_the_transaction_commits(personas, smtp, django_capture_on_commit_callbacks):
    customer, order = arrange_order(personas.alice)
    make_endpoint(customer)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order_record_status(order=order, status=OrderStatus.IN_PRODUCTION, at=timezone.now(), source="mes")

    assert smtp.envelopes == []
    assert OutboundMessage.objects.get().status == DeliveryStatus.PENDING
    assert len(callbacks) == 1


def test_it_records_a_refused_mail_as_a_failed_attempt_and_retries(
    personas, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    from steelyard.integrations.tests.messages_support import free_port

    settings.EMAIL_PORT = free_port()  # nobody listens here
    settings.EMAIL_TIMEOUT = 5
    customer, order = arrange_order(personas.alice)
    make_endpoint(customer)

    with django_capture_on_commit_callbacks(execute=True):
        order_record_status(order=order, status=OrderStatus.PRODUCED, at=timezone.now(), source="mes")

    message = OutboundMessage.objects.get()
    assert message.status == DeliveryStatus.RETRYING
    assert message.attempts == 1
    assert message.last_error != ""
    assert message.next_attempt_at > timezone.now()


def test_it_writes_an_english_email_for_an_english_endpoint(
    personas, smtp, django_capture_on_commit_callbacks
):
    customer, order = arrange_order(personas.alice, number="SO-EN-1")
    make_endpoint(customer, language="en")

    with django_capture_on_commit_callbacks(execute=True):
        order_record_status(order=order, status=OrderStatus.SHIPPED, at=timezone.now(), source="erp")

    msg, text, _html = _parts(smtp.envelopes[0].content)
    assert msg["Subject"].strip() == "[Steelyard Group] Order SO-EN-1: Shipped"
    assert "your order SO-EN-1 moved to “Shipped”" in text
    assert re.search(r"https://crm\.example\.com/track/\S+/\?lang=en", text)
