"""The CRM's own timeline steps after shipping: who may record them, what is refused, the htmx form."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from steelyard.core.models import AuditLog
from steelyard.customers.testing import make_customer
from steelyard.orders.models import OrderStatus, OrderStatusEvent
from steelyard.orders.services.orders import order_status_add
from steelyard.orders.testing import make_order
from steelyard.orders.tests._o2c import add_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def shipped(personas):
    """Alice's order, shipped by the ERP two days ago."""
    customer = make_customer(personas.alice, name="宁波舟山港")
    order = make_order(customer, number="SO-SHIP", at=timezone.now() - dt.timedelta(days=10))
    add_event(order, OrderStatus.SHIPPED, timezone.now() - dt.timedelta(days=2))
    return order


def _add(actor, order, status=OrderStatus.DELIVERED, at=None, note=""):
    return order_status_add(actor=actor, order=order, status=status, at=at or timezone.now(), note=note)


def test_the_owner_records_delivery_through_the_timeline_writer_audited_and_published(
    shipped, personas, monkeypatch
):
    published = []
    monkeypatch.setattr(
        "steelyard.orders.services.status.publish",
        lambda event, **kw: published.append((event, kw["payload"])),
    )
    when = timezone.now() - dt.timedelta(hours=3)
    event = _add(personas.alice, shipped, at=when, note="王经理签收")
    assert (event.status, event.at, event.actor, event.source, event.note) == (
        OrderStatus.DELIVERED,
        when,
        personas.alice,
        "crm",
        "王经理签收",
    )
    shipped.refresh_from_db()
    assert shipped.status == OrderStatus.DELIVERED and shipped.status_at == when
    log = AuditLog.objects.get(verb="orders.status", object_id=str(shipped.pk))
    assert log.actor == personas.alice and log.changes == {"status": ["shipped", "delivered"]}
    assert published == [
        ("order.status_changed", {**published[0][1], "status": "delivered", "previous_status": "shipped"})
    ]


def test_managers_and_admins_may_record_outsiders_may_not(shipped, personas):
    _add(personas.bob, shipped, OrderStatus.DELIVERED)
    _add(personas.admin, shipped, OrderStatus.INSTALLED)
    for outsider in (personas.charlie,):
        with pytest.raises(PermissionDenied):
            _add(outsider, shipped, OrderStatus.ACCEPTED)
    assert list(shipped.status_events.values_list("status", flat=True).order_by("at", "id"))[-2:] == [
        "delivered",
        "installed",
    ]


@pytest.mark.parametrize(
    ("status", "at_offset", "field"),
    [
        ("shipped", dt.timedelta(hours=-1), "status"),  # the ERP's step, not the CRM's
        ("scheduled", dt.timedelta(hours=-1), "status"),
        ("bogus", dt.timedelta(hours=-1), "status"),
        ("delivered", dt.timedelta(days=1), "at"),  # the future
        ("delivered", dt.timedelta(days=-5), "at"),  # before it shipped
    ],
)
def test_it_refuses_what_does_not_make_sense(shipped, personas, status, at_offset, field):
    with pytest.raises(ValidationError) as e:
        _add(personas.alice, shipped, status, at=timezone.now() + at_offset)
    assert field in e.value.message_dict
    assert not shipped.status_events.filter(status=status, actor=personas.alice).exists()


def test_it_refuses_naive_times_long_notes_and_the_same_step_twice(shipped, personas):
    with pytest.raises(ValidationError) as e:
        _add(personas.alice, shipped, at=dt.datetime(2020, 1, 1, 10, 0))
    assert "at" in e.value.message_dict
    with pytest.raises(ValidationError) as e:
        _add(personas.alice, shipped, note="长" * 301)
    assert "note" in e.value.message_dict
    when = timezone.now() - dt.timedelta(minutes=5)
    _add(personas.alice, shipped, at=when)
    with pytest.raises(ValidationError) as e:
        _add(personas.alice, shipped, at=when)
    assert "at" in e.value.message_dict
    assert shipped.status_events.filter(status=OrderStatus.DELIVERED).count() == 1


def test_it_refuses_orders_not_shipped_yet_or_cancelled(personas):
    customer = make_customer(personas.alice)
    fresh = make_order(customer)
    with pytest.raises(ValidationError) as e:
        _add(personas.alice, fresh)
    assert "status" in e.value.message_dict
    cancelled = make_order(customer)
    add_event(cancelled, OrderStatus.CANCELLED, timezone.now() - dt.timedelta(hours=1), source="erp")
    with pytest.raises(ValidationError):
        _add(personas.alice, cancelled)


def test_a_late_step_never_moves_the_order_backwards(shipped, personas):
    _add(personas.alice, shipped, OrderStatus.ACCEPTED, at=timezone.now() - dt.timedelta(hours=1))
    _add(personas.alice, shipped, OrderStatus.DELIVERED, at=timezone.now() - dt.timedelta(days=1))
    shipped.refresh_from_db()
    assert shipped.status == OrderStatus.ACCEPTED


# --- the form on the order page -----------------------------------------------------------------


def _form_data(status="delivered", at=None, note=""):
    at = at or timezone.localtime() - dt.timedelta(minutes=30)
    return {"status": status, "at": at.strftime("%Y-%m-%dT%H:%M"), "note": note}


def test_the_order_page_offers_the_form_only_to_people_who_may_change(shipped, personas, client_for):
    url = reverse("order_detail", args=[shipped.pk])
    for user in (personas.alice, personas.bob, personas.admin):
        assert "o2c-status-form" in client_for(user).get(url).content.decode()
    assert client_for(personas.charlie).get(url).status_code == 404


def test_the_htmx_form_adds_the_step_and_swaps_the_timeline(shipped, personas, client_for):
    url = reverse("order_status_create", args=[shipped.pk])
    r = client_for(personas.alice).post(url, _form_data(note="已签收"), HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    body = r.content.decode()
    assert body.lstrip().startswith('<div id="order-timeline">')
    assert re.search(r'data-step="delivered" data-state="current"', body)
    assert 'hx-swap-oob="true" data-status="delivered"' in body  # the header badge follows
    assert "已签收" in body and "alert-success" in body
    assert shipped.status_events.filter(status="delivered", note="已签收", actor=personas.alice).exists()


def test_the_htmx_form_explains_what_is_wrong(shipped, personas, client_for):
    url = reverse("order_status_create", args=[shipped.pk])
    future = timezone.localtime() + dt.timedelta(days=2)
    r = client_for(personas.alice).post(url, _form_data(at=future), HTTP_HX_REQUEST="true")
    body = r.content.decode()
    assert (
        r.status_code == 200
        and "invalid-feedback" in body
        and '<details class="o2c-record mt-3" open>' in body
    )
    r = client_for(personas.alice).post(url, _form_data(status="shipped"), HTTP_HX_REQUEST="true")
    assert "invalid-feedback" in r.content.decode()
    early = timezone.localtime() - dt.timedelta(days=5)
    r = client_for(personas.alice).post(url, _form_data(at=early), HTTP_HX_REQUEST="true")
    assert "invalid-feedback" in r.content.decode()  # before shipping: the service's error on the field
    r = client_for(personas.alice).post(
        url, {"status": "delivered", "at": "not a date"}, HTTP_HX_REQUEST="true"
    )
    assert r.status_code == 200 and "invalid-feedback" in r.content.decode()
    assert not shipped.status_events.filter(status="delivered").exists()


def test_without_htmx_the_form_redirects_or_shows_errors(shipped, personas, client_for):
    url = reverse("order_status_create", args=[shipped.pk])
    r = client_for(personas.bob).post(url, _form_data(status="installed"))
    assert r.status_code == 302 and r.url == reverse("order_detail", args=[shipped.pk])
    r = client_for(personas.bob).post(url, _form_data(status="nonsense"))
    assert r.status_code == 400 and "invalid-feedback" in r.content.decode()


def test_outsiders_get_404_and_viewers_who_may_not_change_get_403(shipped, personas, client_for):
    from steelyard.customers.testing import make_pool

    url = reverse("order_status_create", args=[shipped.pk])
    assert client_for(personas.charlie).post(url, _form_data()).status_code == 404
    # A pool member sees a pool customer's order but may not change it.
    pool = make_pool(personas.team_c, members=[personas.charlie])
    pooled = make_order(make_customer(None, pool=pool), number="SO-POOL")
    add_event(pooled, OrderStatus.SHIPPED, timezone.now() - dt.timedelta(days=1))
    pool_url = reverse("order_status_create", args=[pooled.pk])
    assert client_for(personas.charlie).get(reverse("order_detail", args=[pooled.pk])).status_code == 200
    assert client_for(personas.charlie).post(pool_url, _form_data()).status_code == 403
    assert not OrderStatusEvent.objects.filter(order=pooled, status="delivered").exists()
    assert (
        client_for(personas.alice).get(reverse("order_status_create", args=[shipped.pk])).status_code == 405
    )
