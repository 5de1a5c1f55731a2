"""The signed order-status link and the public page it opens."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.core import signing
from django.utils import timezone, translation
from django.utils.translation import gettext

from steelyard.integrations.services.messages import (
    LINK_SALT,
    StatusLinkExpired,
    StatusLinkInvalid,
    order_status_link,
    order_status_token,
    order_status_token_read,
)
from steelyard.integrations.tests.messages_support import arrange_order
from steelyard.orders.models import OrderStatus, Shipment
from steelyard.orders.services.status import order_record_status

pytestmark = pytest.mark.django_db

BASE = "https://crm.example.com"


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = BASE
    settings.ORDER_STATUS_LINK_DAYS = 30


def _path(link: str) -> str:
    return link.removeprefix(BASE)


@pytest.fixture
def order(personas):
    _customer, order = arrange_order(personas.alice, number="SO-TRACK-7")
    order.notes = "内部备注：客户压价，勿外传"
    order.save(update_fields=["notes"])
    return order


def test_it_builds_an_absolute_link_carrying_the_order(order):
    link = order_status_link(order)
    assert link.startswith(f"{BASE}/track/") and link.endswith("/")
    token = link.removeprefix(f"{BASE}/track/").rstrip("/")
    assert signing.TimestampSigner(salt=LINK_SALT).unsign(token) == str(order.pk)
    assert order_status_token_read(token) == order.pk
    assert order_status_link(order, language="en").endswith("/?lang=en")


def test_the_page_shows_the_order_without_sign_in(client, order, django_assert_max_num_queries):
    order_record_status(order=order, status=OrderStatus.IN_PRODUCTION, at=timezone.now(), source="mes")
    Shipment.objects.create(
        number="SH-77",
        order=order,
        customer=order.customer,
        shipped_on=timezone.localdate(),
        carrier="德邦物流",
        tracking_no="DPK0099",
        amount=Decimal("999999"),
    )
    with django_assert_max_num_queries(8):
        response = client.get(_path(order_status_link(order)))
    assert response.status_code == 200
    html = response.content.decode()
    assert "SO-TRACK-7" in html
    assert "上海振华重工有限公司" in html  # the customer
    assert "Steelyard Group" in html  # our company
    assert "门式起重机 MG50" in html and "× 2" in html  # products and quantities
    assert '<html lang="zh-hans">' in html  # Chinese by default
    with translation.override("zh-hans"):
        assert gettext("Order status") in html
    assert 'data-step="confirmed"' in html and 'data-step="in_production"' in html
    assert "德邦物流" in html and "DPK0099" in html and "SH-77" in html
    # Nothing internal: no amounts, prices or notes.
    for secret in ("1250000", "2500000", "999999", "1,250,000", "2,500,000", "内部备注"):
        assert secret not in html
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert "no-store" in response["Cache-Control"]
    assert "<script" not in html


def test_the_page_speaks_english_when_asked(client, order):
    response = client.get(_path(order_status_link(order, language="en")))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="en">' in html
    assert "Order status" in html and "Products" in html


def test_it_works_until_it_expires(client, order):
    link = _path(order_status_link(order))
    with time_machine.travel(timezone.now() + dt.timedelta(days=29, hours=23), tick=False):
        assert client.get(link).status_code == 200
    with time_machine.travel(timezone.now() + dt.timedelta(days=30, minutes=1), tick=False):
        response = client.get(link)
        with pytest.raises(StatusLinkExpired):
            order_status_token_read(link.split("/")[2])
    assert response.status_code == 410
    html = response.content.decode()
    assert 'data-link-state="expired"' in html
    assert "SO-TRACK-7" not in html
    assert '<html lang="zh-hans">' in html


def test_a_link_with_its_own_validity_follows_it(client, order):
    link = _path(order_status_link(order, days=2))
    with time_machine.travel(timezone.now() + dt.timedelta(days=1), tick=False):
        assert client.get(link).status_code == 200
    with time_machine.travel(timezone.now() + dt.timedelta(days=2, minutes=1), tick=False):
        assert client.get(link).status_code == 410


def test_a_changed_order_id_is_refused(client, order, personas):
    _c, other = arrange_order(personas.charlie, name="北京另一家公司", number="SO-OTHER-1")
    token = order_status_token(order)
    value, timestamp, signature = token.split(":")
    forged = f"{other.pk}:{timestamp}:{signature}"
    response = client.get(f"/track/{forged}/")
    assert response.status_code == 404
    assert "SO-OTHER-1" not in response.content.decode()
    with pytest.raises(StatusLinkInvalid):
        order_status_token_read(forged)


def test_a_changed_signature_is_refused(client, order):
    token = order_status_token(order)
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (flipped, token[:-5], "garbage", f"{order.pk}", "1:2:3", "%00", "x" * 500):
        response = client.get(f"/track/{bad}/")
        assert response.status_code == 404, bad
        assert "SO-TRACK-7" not in response.content.decode()


def test_a_stretched_validity_is_refused(client, order):
    token = order_status_token(order, days=1)
    value, timestamp, signature = token.split(":")
    forged = f"{order.pk}.3650:{timestamp}:{signature}"
    assert client.get(f"/track/{forged}/").status_code == 404


def test_a_token_signed_for_something_else_is_refused(client, order):
    other_salt = signing.TimestampSigner(salt="steelyard.api.cursor").sign(str(order.pk))
    assert client.get(f"/track/{other_salt}/").status_code == 404


def test_the_link_for_order_a_never_shows_order_b(client, order, personas):
    _c, other = arrange_order(personas.alice, name="第二家客户有限公司", number="SO-B-2")
    a = client.get(_path(order_status_link(order))).content.decode()
    b = client.get(_path(order_status_link(other))).content.decode()
    assert "SO-TRACK-7" in a and "SO-B-2" not in a and "第二家客户有限公司" not in a
    assert "SO-B-2" in b and "SO-TRACK-7" not in b


def test_the_refusal_page_is_friendly_and_chinese(client):
    response = client.get("/track/not-a-token/")
    assert response.status_code == 404
    html = response.content.decode()
    assert '<html lang="zh-hans">' in html
    assert 'data-link-state="invalid"' in html
    assert "Traceback" not in html


def test_a_deleted_order_answers_404(client, order):
    link = _path(order_status_link(order))
    order.status_events.all().delete()
    order.lines.all().delete()
    order.delete()
    assert client.get(link).status_code == 404
