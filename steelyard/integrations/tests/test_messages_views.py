"""The screens: a customer's notification endpoints, the message log, templates, the share section.

Three-sided: alice owns the customer, bob (her manager) may do the same, charlie (another branch)
sees nothing of it, the administrator sees everything.
"""

from __future__ import annotations

import re
import urllib.parse

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core import mail
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.utils import timezone

from steelyard.core.models import AuditLog
from steelyard.customers.models import Contact
from steelyard.customers.testing import make_customer
from steelyard.integrations.models import (
    DeliveryStatus,
    MessageTemplate,
    NotificationEndpoint,
    OutboundMessage,
)
from steelyard.integrations.tests.messages_support import arrange_order, make_endpoint
from steelyard.integrations.views.messages import order_share_section
from steelyard.orders.models import OrderStatus
from steelyard.orders.services.status import order_record_status

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = "https://crm.example.com"


@pytest.fixture
def world(personas):
    customer, order = arrange_order(personas.alice, number="SO-ALICE-1")
    endpoint = make_endpoint(customer, address="alice-buyer@example.com")
    order_record_status(order=order, status=OrderStatus.SCHEDULED, at=timezone.now(), source="erp")
    message = OutboundMessage.objects.get(endpoint=endpoint)
    c_customer, c_order = arrange_order(personas.charlie, name="北京查理机械有限公司", number="SO-CHARLIE-1")
    c_endpoint = make_endpoint(c_customer, address="charlie-buyer@example.com")
    order_record_status(order=c_order, status=OrderStatus.SCHEDULED, at=timezone.now(), source="erp")
    c_message = OutboundMessage.objects.get(endpoint=c_endpoint)
    return {
        "customer": customer,
        "order": order,
        "endpoint": endpoint,
        "message": message,
        "c_customer": c_customer,
        "c_message": c_message,
    }


def _audit(obj):
    return AuditLog.objects.filter(content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk))


# --- the customer page section --------------------------------------------------------------------


def test_the_customer_page_lists_endpoints_for_owner_manager_and_admin(world, personas, client_for):
    url = f"/customers/{world['customer'].pk}/"
    for user in (personas.alice, personas.bob, personas.admin):
        response = client_for(user).get(url)
        assert response.status_code == 200, user
        html = response.content.decode()
        assert 'data-section="notifications"' in html
        assert "alice-buyer@example.com" in html
        assert f"/integrations/messages/endpoints/{world['endpoint'].pk}/edit/" in html
        assert f"/integrations/messages/customers/{world['customer'].pk}/endpoints/new/" in html
    assert client_for(personas.charlie).get(url).status_code == 404


def test_the_section_says_what_to_do_when_there_is_no_endpoint(personas, client_for):
    customer = make_customer(personas.alice)
    html = client_for(personas.alice).get(f"/customers/{customer.pk}/").content.decode()
    assert 'data-section="notifications"' in html
    assert "data-endpoint=" not in html
    assert f"/integrations/messages/customers/{customer.pk}/endpoints/new/" in html


def test_owner_adds_an_endpoint_and_it_is_audited(world, personas, client_for):
    customer = world["customer"]
    contact = Contact.objects.create(customer=customer, name="李娜", email="lina@example.com")
    url = f"/integrations/messages/customers/{customer.pk}/endpoints/new/"
    assert client_for(personas.alice).get(url).status_code == 200
    response = client_for(personas.alice).post(
        url,
        {
            "channel": "wecom",
            "address": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc",
            "contact": contact.pk,
            "language": "en",
            "events": ["shipment.shipped"],
        },
    )
    assert response.status_code == 302
    endpoint = NotificationEndpoint.objects.get(channel="wecom")
    assert endpoint.customer == customer and endpoint.contact == contact
    assert endpoint.language == "en" and endpoint.events == ["shipment.shipped"]
    entry = _audit(endpoint).get(action="create")
    assert entry.actor == personas.alice


def test_a_webhook_endpoint_gets_a_secret(world, personas, client_for):
    url = f"/integrations/messages/customers/{world['customer'].pk}/endpoints/new/"
    client_for(personas.bob).post(
        url, {"channel": "webhook", "address": "https://erp.customer.example/hooks", "language": "zh-hans"}
    )
    endpoint = NotificationEndpoint.objects.get(channel="webhook")
    assert len(endpoint.secret) >= 32
    audit = _audit(endpoint).get(action="create")
    assert endpoint.secret not in str(audit.changes)


@pytest.mark.parametrize(
    ("channel", "address"),
    [
        ("email", "not-an-email"),
        ("email", "https://example.com/"),
        ("wecom", "qyapi.weixin.qq.com/cgi-bin/webhook/send"),
        ("wecom", "ftp://example.com/robot"),
        ("webhook", "javascript:alert(1)"),
        ("webhook", ""),
    ],
)
def test_the_address_is_validated_per_channel(world, personas, client_for, channel, address):
    url = f"/integrations/messages/customers/{world['customer'].pk}/endpoints/new/"
    response = client_for(personas.alice).post(
        url, {"channel": channel, "address": address, "language": "zh-hans"}
    )
    assert response.status_code == 200
    assert 'class="invalid-feedback d-block"' in response.content.decode()
    assert NotificationEndpoint.objects.filter(customer=world["customer"]).count() == 1


def test_a_contact_of_another_customer_is_refused(world, personas, client_for):
    stranger = Contact.objects.create(customer=world["c_customer"], name="外人")
    url = f"/integrations/messages/customers/{world['customer'].pk}/endpoints/new/"
    response = client_for(personas.alice).post(
        url, {"channel": "email", "address": "x@example.com", "language": "zh-hans", "contact": stranger.pk}
    )
    assert response.status_code == 200
    assert NotificationEndpoint.objects.filter(customer=world["customer"]).count() == 1


def test_outsiders_cannot_add_edit_deactivate_or_test(world, personas, client_for):
    charlie = client_for(personas.charlie)
    pk = world["endpoint"].pk
    assert (
        charlie.get(f"/integrations/messages/customers/{world['customer'].pk}/endpoints/new/").status_code
        == 404
    )
    assert charlie.get(f"/integrations/messages/endpoints/{pk}/edit/").status_code == 404
    assert charlie.post(f"/integrations/messages/endpoints/{pk}/deactivate/").status_code == 404
    assert charlie.post(f"/integrations/messages/endpoints/{pk}/test/").status_code == 404
    assert NotificationEndpoint.objects.get(pk=pk).is_active
    assert OutboundMessage.objects.filter(endpoint_id=pk).count() == 1


def test_manager_edits_and_owner_deactivates(world, personas, client_for):
    endpoint = world["endpoint"]
    url = f"/integrations/messages/endpoints/{endpoint.pk}/edit/"
    assert client_for(personas.bob).get(url).status_code == 200
    response = client_for(personas.bob).post(
        url,
        {"channel": "email", "address": "new-buyer@example.com", "language": "en", "is_active": "on"},
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.address == "new-buyer@example.com" and endpoint.language == "en"
    update = _audit(endpoint).get(action="update")
    assert update.actor == personas.bob and update.changes["address"][1] == "new-buyer@example.com"

    response = client_for(personas.alice).post(f"/integrations/messages/endpoints/{endpoint.pk}/deactivate/")
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert _audit(endpoint).filter(action="update").count() == 2


def test_send_a_test_message(world, personas, client_for, django_capture_on_commit_callbacks):
    endpoint = world["endpoint"]
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(personas.alice).post(f"/integrations/messages/endpoints/{endpoint.pk}/test/")
    message = OutboundMessage.objects.get(endpoint=endpoint, event="test")
    assert response.status_code == 302 and response["Location"] == f"/integrations/messages/{message.pk}/"
    assert message.status == DeliveryStatus.DELIVERED
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice-buyer@example.com"]
    assert "测试消息" in mail.outbox[0].subject
    assert "https://crm.example.com/track/" in mail.outbox[0].body
    assert _audit(endpoint).filter(verb="integrations.endpoint_test").exists()


# --- the message log --------------------------------------------------------------------------


def test_the_log_is_scoped_by_customer(world, personas, client_for):
    for user, sees_alice, sees_charlie in (
        (personas.alice, True, False),
        (personas.bob, True, False),
        (personas.charlie, False, True),
        (personas.admin, True, True),
    ):
        html = client_for(user).get("/integrations/messages/").content.decode()
        assert (f'data-message="{world["message"].pk}"' in html) is sees_alice, user
        assert (f'data-message="{world["c_message"].pk}"' in html) is sees_charlie, user


def test_the_log_filters_by_customer_channel_and_status(world, personas, client_for):
    admin = client_for(personas.admin)
    mine = f'data-message="{world["message"].pk}"'
    other = f'data-message="{world["c_message"].pk}"'
    html = admin.get(f"/integrations/messages/?customer={world['customer'].pk}").content.decode()
    assert mine in html and other not in html
    html = admin.get("/integrations/messages/?channel=wecom").content.decode()
    assert mine not in html and other not in html
    OutboundMessage.objects.filter(pk=world["c_message"].pk).update(status=DeliveryStatus.FAILED)
    html = admin.get("/integrations/messages/?status=failed").content.decode()
    assert other in html and mine not in html
    html = admin.get("/integrations/messages/?q=查理").content.decode()
    assert other in html and mine not in html
    # Bad filter values are ignored, never a 500.
    assert admin.get("/integrations/messages/?status=nope&customer=abc&sort=zzz").status_code == 200


def test_the_log_lists_in_bounded_queries(world, personas, client_for, django_assert_max_num_queries):
    customer = world["customer"]
    for i in range(15):
        make_endpoint(customer, address=f"b{i}@example.com")
    order_record_status(order=world["order"], status=OrderStatus.PRODUCED, at=timezone.now(), source="mes")
    client = client_for(personas.bob)
    client.get("/integrations/messages/")
    with django_assert_max_num_queries(14):
        response = client.get("/integrations/messages/")
    assert response.content.decode().count("data-message=") >= 2 * 16


def test_the_detail_is_scoped(world, personas, client_for):
    url = f"/integrations/messages/{world['message'].pk}/"
    for user in (personas.alice, personas.bob, personas.admin):
        response = client_for(user).get(url)
        assert response.status_code == 200
        assert "alice-buyer@example.com" in response.content.decode()
    assert client_for(personas.charlie).get(url).status_code == 404
    assert client_for(personas.alice).get("/integrations/messages/999999/").status_code == 404


def test_retry_now_for_a_failed_message(world, personas, client_for, django_capture_on_commit_callbacks):
    message = world["message"]
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=DeliveryStatus.FAILED, attempts=6, last_error="SMTP down", next_attempt_at=None
    )
    url = f"/integrations/messages/{message.pk}/retry/"
    assert client_for(personas.charlie).post(url).status_code == 404
    detail = client_for(personas.alice).get(f"/integrations/messages/{message.pk}/").content.decode()
    assert url in detail and "SMTP down" in detail

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(personas.bob).post(url)
    assert response.status_code == 302
    message.refresh_from_db()
    assert message.status == DeliveryStatus.DELIVERED  # the locmem mail backend accepted it
    assert len(mail.outbox) == 1
    entry = _audit(message).get(verb="integrations.message_retry")
    assert entry.actor == personas.bob and entry.changes["status"] == ["failed", "retrying"]


def test_retry_is_refused_for_a_message_that_did_not_fail(world, personas, client_for):
    message = world["message"]
    response = client_for(personas.alice).post(f"/integrations/messages/{message.pk}/retry/", follow=True)
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.status == DeliveryStatus.PENDING
    assert not AuditLog.objects.filter(verb="integrations.message_retry").exists()


def test_the_log_says_what_to_do_when_empty(personas, client_for):
    response = client_for(personas.alice).get("/integrations/messages/")
    assert response.status_code == 200
    assert "empty-state" in response.content.decode()


# --- templates (administrators) ---------------------------------------------------------------


def test_templates_are_for_administrators(personas, client_for):
    for user in (personas.alice, personas.bob, personas.charlie):
        assert client_for(user).get("/integrations/messages/templates/").status_code == 403
        assert (
            client_for(user).get("/integrations/messages/templates/order.status_changed/zh-hans/").status_code
            == 403
        )
    html = client_for(personas.admin).get("/integrations/messages/templates/").content.decode()
    for key in (
        "order.status_changed/zh-hans",
        "order.status_changed/en",
        "shipment.shipped/zh-hans",
        "test/en",
    ):
        assert f'data-template="{key}"' in html


def test_admin_previews_saves_and_resets_a_template(personas, client_for):
    admin = client_for(personas.admin)
    url = "/integrations/messages/templates/order.status_changed/zh-hans/"
    html = admin.get(url).content.decode()
    assert "data-preview" in html and "SO-2026-0001" in html  # the shipped wording, previewed

    data = {
        "channel": "",
        "subject": "{{ order_number }} 新状态 {{ status }}",
        "body": "请看 {{ link }}",
        "is_active": "on",
    }
    html = admin.post(url, {**data, "action": "preview"}).content.decode()
    assert "SO-2026-0001 新状态" in html
    assert not MessageTemplate.objects.exists()

    response = admin.post(url, {**data, "action": "save"})
    assert response.status_code == 302
    row = MessageTemplate.objects.get(event="order.status_changed", language="zh-hans", channel="")
    assert row.subject == data["subject"]
    assert _audit(row).filter(action="create", actor=personas.admin).exists()

    response = admin.post(f"/integrations/messages/templates/{row.pk}/reset/")
    assert response.status_code == 302
    assert not MessageTemplate.objects.exists()
    assert _audit(row).filter(action="delete").exists()


def test_a_broken_template_is_explained_not_saved(personas, client_for):
    admin = client_for(personas.admin)
    url = "/integrations/messages/templates/shipment.shipped/en/"
    for body in (
        "{% if %}",
        "{% include 'base.html' %}",
        "{% load i18n %}{{ x }}",
        "{{ link|nosuchfilter }}",
    ):
        response = admin.post(url, {"subject": "s", "body": body, "action": "save"})
        assert response.status_code == 200, body
        assert 'class="invalid-feedback d-block"' in response.content.decode()
    assert not MessageTemplate.objects.exists()
    assert admin.get("/integrations/messages/templates/nope/en/").status_code == 404
    assert admin.get("/integrations/messages/templates/shipment.shipped/fr/").status_code == 404


# --- the order page: share the status link ----------------------------------------------------------


def _qr_text(data_uri: str) -> str:
    """Decode the QR code in segno's SVG data URI (rasterise its path, read it with zxing-cpp)."""
    import zxingcpp
    from PIL import Image, ImageDraw

    svg = urllib.parse.unquote(data_uri.split(",", 1)[1])
    width = int(re.search(r"width='(\d+)'", svg).group(1))
    scale = int(re.search(r"scale\((\d+)\)", svg).group(1))
    path = re.search(r" d='([^']+)'", svg).group(1)
    image = Image.new("L", (width, width), 255)
    draw = ImageDraw.Draw(image)
    x = y = 0.0
    for op, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?:\s(-?[\d.]+))?", path):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        else:
            n = float(a)
            top = (y - 0.5) * scale
            draw.rectangle([x * scale, top, (x + n) * scale - 1, top + scale - 1], fill=0)
            x += n
    image = image.resize((width * 3, width * 3), Image.NEAREST)
    results = zxingcpp.read_barcodes(image)
    assert results, "no QR code found"
    return results[0].text


def test_the_share_section_gives_a_link_and_its_qr_code(world, personas, client):
    request = RequestFactory().get("/orders/1/")
    request.user = personas.alice
    ctx = order_share_section(request, world["order"])
    link = ctx["status_link"]
    assert link.startswith("https://crm.example.com/track/")
    assert ctx["status_link_en"].endswith("?lang=en")
    assert ctx["status_qr"].startswith("data:image/svg+xml")
    assert _qr_text(ctx["status_qr"]) == link
    assert client.get(link.removeprefix("https://crm.example.com")).status_code == 200

    html = render_to_string(
        "integrations/messages/_section_share_link.html", {**ctx, "record": world["order"]}, request=request
    )
    assert link in html and ctx["status_qr"] in html
    assert 'style="' not in html and "onclick" not in html
    assert "integrations/copy-link.js" in html


def test_sections_and_menu_are_registered(personas):
    from steelyard.core.registry import registry

    keys = [s.key for s in registry.sections_for("customers.customer", personas.alice)]
    assert "notifications" in keys
    assert "status_link" in [s.key for s in registry.sections_for("orders.order", personas.alice)]
    menu = {m.key for m in registry.menu_for(personas.alice)}
    assert "integrations.messages" in menu and "integrations.message_templates" not in menu
    assert "integrations.message_templates" in {m.key for m in registry.menu_for(personas.admin)}


def test_the_order_page_shares_the_status_link_with_owner_manager_and_admin(
    world, personas, client_for, client
):
    url = f"/orders/{world['order'].pk}/"
    for user in (personas.alice, personas.bob, personas.admin):
        response = client_for(user).get(url)
        assert response.status_code == 200, user
        html = response.content.decode()
        assert 'data-section="status_link"' in html
        link = re.search(r'value="(https://crm\.example\.com/track/[^"]+/)"', html).group(1)
        assert 'src="data:image/svg+xml' in html
        assert client.get(link.removeprefix("https://crm.example.com")).status_code == 200
    assert client_for(personas.charlie).get(url).status_code == 404
