"""Webhook screens and API: administrators only (alice, bob, charlie → 403), forms that validate and
explain, the delivery log's filters, replay with confirmation, everything audited, no secret in the audit."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from steelyard.core.models import AuditLog
from steelyard.integrations.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookSubscription
from steelyard.integrations.services import webhooks as svc
from steelyard.orders.testing import make_system

pytestmark = pytest.mark.django_db
API = "/api/v1/integrations/webhooks"


@pytest.fixture(autouse=True)
def _fresh_cache():
    svc.webhook_cache_clear()
    yield
    svc.webhook_cache_clear()


@pytest.fixture
def world(personas):
    erp, _t = make_system("erp", token=False)
    oa, _t = make_system("oa", kind="oa", token=False)
    sub = svc.webhook_subscription_create(
        actor=personas.admin,
        system=erp,
        url="https://erp.example.com/hooks",
        events=["opportunity.won", "order.status_changed"],
        description="ERP won business",
    )
    oa_sub = svc.webhook_subscription_create(
        actor=personas.admin, system=oa, url="https://oa.example.com/in", events=["approval.requested"]
    )
    now = timezone.now()

    def delivery(s, event, status, days_ago=0, attempts=1):
        d = WebhookDelivery.objects.create(
            subscription=s,
            event=event,
            payload={"id": "x", "type": event, "created_at": now.isoformat(), "data": {"n": 1}},
            status=status,
            attempts=attempts,
            last_status_code=200 if status == DeliveryStatus.DELIVERED else 500,
            last_error="" if status == DeliveryStatus.DELIVERED else "Internal error at ERP",
        )
        WebhookDelivery.objects.filter(pk=d.pk).update(created_at=now - dt.timedelta(days=days_ago))
        WebhookAttempt.objects.create(
            delivery=d, number=1, at=now, status_code=d.last_status_code, error=d.last_error
        )
        return d

    return {
        "erp": erp,
        "oa": oa,
        "sub": sub,
        "oa_sub": oa_sub,
        "won": delivery(sub, "opportunity.won", DeliveryStatus.DELIVERED),
        "failed": delivery(sub, "order.status_changed", DeliveryStatus.FAILED, days_ago=3, attempts=6),
        "oa_req": delivery(oa_sub, "approval.requested", DeliveryStatus.DELIVERED, days_ago=10),
    }


def _post_json(client, url, payload=None, method="post"):
    return getattr(client, method)(url, data=json.dumps(payload or {}), content_type="application/json")


# --- persona access ------------------------------------------------------------------------------------------


def _pages(w):
    return [
        reverse("webhook_list"),
        reverse("webhook_create"),
        reverse("webhook_detail", args=[w["sub"].pk]),
        reverse("webhook_edit", args=[w["sub"].pk]),
        reverse("webhook_delivery_list"),
        reverse("webhook_delivery_detail", args=[w["failed"].pk]),
    ]


def _posts(w):
    return [
        reverse("webhook_rotate", args=[w["sub"].pk]),
        reverse("webhook_test", args=[w["sub"].pk]),
        reverse("webhook_set_active", args=[w["sub"].pk]),
        reverse("webhook_delivery_replay", args=[w["failed"].pk]),
    ]


@pytest.mark.parametrize("who", ["alice", "bob", "charlie"])
def test_only_administrators_reach_the_pages(world, personas, client_for, who):
    c = client_for(getattr(personas, who))
    for url in _pages(world):
        assert c.get(url).status_code == 403, url
    before = WebhookSubscription.objects.get(pk=world["sub"].pk).secret
    for url in _posts(world):
        assert c.post(url, {"active": "0"}).status_code == 403, url
    sub = WebhookSubscription.objects.get(pk=world["sub"].pk)
    assert sub.secret == before and sub.is_active
    assert WebhookDelivery.objects.count() == 3


def test_administrators_reach_every_page(world, personas, client_for, django_assert_max_num_queries):
    c = client_for(personas.admin)
    for url in _pages(world):
        assert c.get(url).status_code == 200, url
    with django_assert_max_num_queries(15):
        assert c.get(reverse("webhook_delivery_list")).status_code == 200
    with django_assert_max_num_queries(15):
        assert c.get(reverse("webhook_list")).status_code == 200


def test_anonymous_visitors_are_sent_to_sign_in(world, client):
    r = client.get(reverse("webhook_list"))
    assert r.status_code in (302, 403)
    assert client.get(f"{API}/subscriptions").status_code == 401


@pytest.mark.parametrize("who", ["alice", "bob", "charlie"])
def test_only_administrators_use_the_api(world, personas, client_for, who):
    c = client_for(getattr(personas, who))
    sub, failed = world["sub"], world["failed"]
    assert c.get(f"{API}/events").status_code == 403
    assert c.get(f"{API}/subscriptions").status_code == 403
    assert c.get(f"{API}/subscriptions/{sub.pk}").status_code == 403
    assert c.get(f"{API}/deliveries").status_code == 403
    assert c.get(f"{API}/deliveries/{failed.pk}").status_code == 403
    r = _post_json(
        c,
        f"{API}/subscriptions",
        {"system_id": world["erp"].pk, "url": "https://x.example", "events": ["order.created"]},
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert (
        _post_json(c, f"{API}/subscriptions/{sub.pk}", {"is_active": False}, method="patch").status_code
        == 403
    )
    assert c.delete(f"{API}/subscriptions/{sub.pk}").status_code == 403
    assert _post_json(c, f"{API}/subscriptions/{sub.pk}/rotate-secret").status_code == 403
    assert _post_json(c, f"{API}/subscriptions/{sub.pk}/test").status_code == 403
    assert _post_json(c, f"{API}/deliveries/{failed.pk}/replay").status_code == 403
    assert WebhookSubscription.objects.count() == 2 and WebhookDelivery.objects.count() == 3


# --- subscription screens ------------------------------------------------------------------------------------


def test_the_list_shows_subscriptions_and_filters_them(world, personas, client_for):
    c = client_for(personas.admin)
    r = c.get(reverse("webhook_list"))
    html = r.content.decode()
    assert "https://erp.example.com/hooks" in html and "https://oa.example.com/in" in html
    assert "赢单" in html or "Opportunity won" in html
    html = c.get(reverse("webhook_list"), {"system": world["oa"].pk}).content.decode()
    assert "https://oa.example.com/in" in html and "https://erp.example.com/hooks" not in html
    html = c.get(reverse("webhook_list"), {"event": "opportunity.won"}).content.decode()
    assert "https://erp.example.com/hooks" in html and "https://oa.example.com/in" not in html
    assert c.get(reverse("webhook_list"), {"system": "junk", "sort": "nope"}).status_code == 200


def test_the_empty_list_says_what_to_do(personas, client_for):
    html = client_for(personas.admin).get(reverse("webhook_list")).content.decode()
    assert "empty-state" in html and reverse("webhook_create") not in html  # no system to subscribe yet
    make_system("erp", token=False)
    html = client_for(personas.admin).get(reverse("webhook_list")).content.decode()
    assert reverse("webhook_create") in html


def test_create_offers_the_declared_events_and_shows_the_secret(world, personas, client_for):
    c = client_for(personas.admin)
    form = c.get(reverse("webhook_create")).content.decode()
    for code in (
        "customer.created",
        "contract.signed",
        "opportunity.won",
        "order.status_changed",
        "approval.requested",
        "approval.decided",
    ):
        assert f'value="{code}"' in form
    r = c.post(
        reverse("webhook_create"),
        {
            "system": world["erp"].pk,
            "url": "https://erp.example.com/v2",
            "events": ["customer.created", "contract.signed"],
            "description": "new endpoint",
            "is_active": "on",
        },
    )
    sub = WebhookSubscription.objects.get(url="https://erp.example.com/v2")
    assert r.status_code == 302 and r["Location"] == reverse("webhook_detail", args=[sub.pk])
    assert sub.events == ["contract.signed", "customer.created"] and sub.is_active
    assert sub.secret.startswith("whsec_") and len(sub.secret) > 40
    detail = c.get(r["Location"]).content.decode()
    assert sub.secret in detail
    entry = AuditLog.objects.get(
        action="create", object_id=str(sub.pk), content_type__model="webhooksubscription"
    )
    assert "secret" not in entry.changes and sub.secret not in json.dumps(entry.changes)
    assert entry.changes["url"] == [None, "https://erp.example.com/v2"]


def test_the_form_explains_what_is_wrong(world, personas, client_for):
    c = client_for(personas.admin)
    r = c.post(
        reverse("webhook_create"), {"system": world["erp"].pk, "url": "ftp://erp.example.com", "events": []}
    )
    assert r.status_code == 200
    errors = r.context["form"].errors
    assert "url" in errors and "events" in errors
    r = c.post(
        reverse("webhook_create"), {"system": "999", "url": "https://a.example", "events": ["nope.never"]}
    )
    assert r.status_code == 200 and {"system", "events"} <= set(r.context["form"].errors)
    assert WebhookSubscription.objects.count() == 2


def test_edit_changes_the_subscription_and_audits_the_diff(world, personas, client_for):
    c = client_for(personas.admin)
    sub = world["sub"]
    r = c.post(
        reverse("webhook_edit", args=[sub.pk]),
        {
            "system": sub.system_id,
            "url": "https://erp.example.com/hooks2",
            "events": ["opportunity.won"],
            "is_active": "on",
        },
    )
    assert r.status_code == 302
    sub.refresh_from_db()
    assert sub.url == "https://erp.example.com/hooks2" and sub.events == ["opportunity.won"]
    entry = AuditLog.objects.filter(action="update", object_id=str(sub.pk)).latest("at")
    assert entry.changes["events"] == [["opportunity.won", "order.status_changed"], ["opportunity.won"]]


def test_deactivate_rotate_and_test_buttons(world, personas, client_for):
    c = client_for(personas.admin)
    sub = world["sub"]
    detail = c.get(reverse("webhook_detail", args=[sub.pk])).content.decode()
    assert "data-confirm" in detail  # deactivate and rotate ask first
    old = sub.secret
    assert c.post(reverse("webhook_rotate", args=[sub.pk])).status_code == 302
    sub.refresh_from_db()
    assert sub.secret != old
    assert AuditLog.objects.filter(verb=svc.AUDIT_SECRET_ROTATED, object_id=str(sub.pk)).exists()
    r = c.post(reverse("webhook_test", args=[sub.pk]))
    test_delivery = WebhookDelivery.objects.get(event=svc.EVENT_TEST)
    assert r.status_code == 302 and r["Location"] == reverse(
        "webhook_delivery_detail", args=[test_delivery.pk]
    )
    assert c.get(r["Location"]).status_code == 200
    assert c.post(reverse("webhook_set_active", args=[sub.pk]), {"active": "0"}).status_code == 302
    sub.refresh_from_db()
    assert not sub.is_active
    r = c.post(reverse("webhook_test", args=[sub.pk]), follow=True)
    assert WebhookDelivery.objects.filter(event=svc.EVENT_TEST).count() == 1  # refused while inactive
    assert c.post(reverse("webhook_set_active", args=[sub.pk]), {"active": "1"}).status_code == 302
    sub.refresh_from_db()
    assert sub.is_active
    assert c.get(reverse("webhook_rotate", args=[sub.pk])).status_code == 405


# --- delivery log --------------------------------------------------------------------------------------------


def test_the_delivery_log_filters_by_system_event_status_and_date(world, personas, client_for):
    c = client_for(personas.admin)

    def shown(params):
        r = c.get(reverse("webhook_delivery_list"), params)
        assert r.status_code == 200
        return {d.pk for d in r.context["page"]}

    w = world
    assert shown({}) == {w["won"].pk, w["failed"].pk, w["oa_req"].pk}
    assert shown({"system": w["oa"].pk}) == {w["oa_req"].pk}
    assert shown({"event": "order.status_changed"}) == {w["failed"].pk}
    assert shown({"status": "failed"}) == {w["failed"].pk}
    today = timezone.localdate()
    assert shown({"date_from": (today - dt.timedelta(days=5)).isoformat()}) == {w["won"].pk, w["failed"].pk}
    assert shown({"date_to": (today - dt.timedelta(days=5)).isoformat()}) == {w["oa_req"].pk}
    assert shown({"subscription": w["oa_sub"].pk}) == {w["oa_req"].pk}
    assert shown({"q": str(w["won"].event_id)}) == {w["won"].pk}
    # Bad values are ignored field by field, never a 500.
    r = c.get(reverse("webhook_delivery_list"), {"status": "bogus", "date_from": "2026-13-45", "q": "x"})
    assert r.status_code == 200 and len(r.context["page"]) == 3


def test_the_delivery_page_shows_payload_attempts_and_last_error(world, personas, client_for):
    html = (
        client_for(personas.admin)
        .get(reverse("webhook_delivery_detail", args=[world["failed"].pk]))
        .content.decode()
    )
    assert "Internal error at ERP" in html
    assert "data-payload" in html and "&quot;n&quot;: 1" in html
    assert 'data-attempt="1"' in html
    assert reverse("webhook_delivery_replay", args=[world["failed"].pk]) in html and "data-confirm" in html


def test_replay_from_the_page_creates_a_new_delivery_with_the_same_event_id(world, personas, client_for):
    c = client_for(personas.admin)
    failed = world["failed"]
    r = c.post(reverse("webhook_delivery_replay", args=[failed.pk]))
    replay = WebhookDelivery.objects.get(replay_of=failed)
    assert r.status_code == 302 and r["Location"] == reverse("webhook_delivery_detail", args=[replay.pk])
    assert replay.event_id == failed.event_id and replay.status == DeliveryStatus.PENDING
    assert AuditLog.objects.filter(verb=svc.AUDIT_REPLAYED, object_id=str(failed.pk)).exists()
    # A delivery that has not had its first try yet cannot be replayed (it is about to be sent).
    r = c.post(reverse("webhook_delivery_replay", args=[replay.pk]), follow=True)
    assert WebhookDelivery.objects.filter(replay_of=replay).count() == 0
    assert c.get(reverse("webhook_delivery_detail", args=[999999])).status_code == 404


# --- API -----------------------------------------------------------------------------------------------------


def test_the_api_manages_subscriptions(world, personas, client_for):
    c = client_for(personas.admin)
    events = c.get(f"{API}/events").json()
    assert {"opportunity.won", "approval.decided", "customer.created"} <= {e["code"] for e in events}
    r = _post_json(
        c,
        f"{API}/subscriptions",
        {"system_id": world["erp"].pk, "url": "https://erp.example.com/api", "events": ["customer.created"]},
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert (
        body["secret"].startswith("whsec_")
        and body["system"] == "erp"
        and body["events"] == ["customer.created"]
    )
    pk = body["id"]
    listed = c.get(f"{API}/subscriptions").json()
    assert {s["id"] for s in listed["items"]} == {world["sub"].pk, world["oa_sub"].pk, pk}
    assert all("secret" not in s for s in listed["items"])
    assert {s["id"] for s in c.get(f"{API}/subscriptions", {"system": world["oa"].pk}).json()["items"]} == {
        world["oa_sub"].pk
    }
    r = _post_json(
        c,
        f"{API}/subscriptions/{pk}",
        {"events": ["customer.created", "order.created"], "is_active": False},
        method="patch",
    )
    assert (
        r.status_code == 200
        and r.json()["events"] == ["customer.created", "order.created"]
        and not r.json()["is_active"]
    )
    rotated = _post_json(c, f"{API}/subscriptions/{pk}/rotate-secret").json()
    assert rotated["secret"] != body["secret"]
    assert c.get(f"{API}/subscriptions/{pk}").json()["secret"] == rotated["secret"]
    assert c.delete(f"{API}/subscriptions/{pk}").status_code == 204
    assert not WebhookSubscription.objects.filter(pk=pk).exists()
    r = c.delete(f"{API}/subscriptions/{world['sub'].pk}")  # it has deliveries: deactivate instead
    assert r.status_code == 400 and r.json()["error"]["message"] == str(svc.ERR_HAS_DELIVERIES)
    assert WebhookSubscription.objects.filter(pk=world["sub"].pk).exists()
    assert c.get(f"{API}/subscriptions/999999").status_code == 404


def test_the_api_explains_bad_input(world, personas, client_for):
    c = client_for(personas.admin)
    r = _post_json(c, f"{API}/subscriptions", {"system_id": 999999, "url": "nope", "events": []})
    assert r.status_code == 400
    fields = {f["field"] for f in r.json()["error"]["fields"]}
    assert "system_id" in fields
    r = _post_json(
        c, f"{API}/subscriptions", {"system_id": world["erp"].pk, "url": "gopher://x", "events": ["x.y"]}
    )
    assert r.status_code == 400
    assert {f["field"] for f in r.json()["error"]["fields"]} >= {"url"}
    r = _post_json(
        c,
        f"{API}/subscriptions",
        {"system_id": world["erp"].pk, "url": "https://ok.example", "events": ["x.y"]},
    )
    assert r.status_code == 400 and r.json()["error"]["fields"][0]["field"] == "events"
    r = _post_json(c, f"{API}/subscriptions", {"url": 5})
    assert r.status_code == 422
    assert c.get(f"{API}/deliveries", {"status": "bogus"}).status_code == 400
    assert c.get(f"{API}/deliveries", {"cursor": "garbage"}).status_code == 400


def test_the_api_lists_deliveries_and_replays(world, personas, client_for):
    c = client_for(personas.admin)
    items = c.get(f"{API}/deliveries").json()["items"]
    assert [d["id"] for d in items] == [
        world["won"].pk,
        world["failed"].pk,
        world["oa_req"].pk,
    ]  # newest first
    page = c.get(f"{API}/deliveries", {"limit": 2}).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = c.get(f"{API}/deliveries", {"limit": 2, "cursor": page["next_cursor"]}).json()
    assert [d["id"] for d in rest["items"]] == [world["oa_req"].pk]
    assert [d["id"] for d in c.get(f"{API}/deliveries", {"status": "failed"}).json()["items"]] == [
        world["failed"].pk
    ]
    assert [d["id"] for d in c.get(f"{API}/deliveries", {"system": world["oa"].pk}).json()["items"]] == [
        world["oa_req"].pk
    ]
    detail = c.get(f"{API}/deliveries/{world['failed'].pk}").json()
    assert detail["payload"]["data"] == {"n": 1}
    assert detail["attempts_log"][0]["status_code"] == 500 and detail["last_error"] == "Internal error at ERP"
    r = _post_json(c, f"{API}/deliveries/{world['failed'].pk}/replay")
    assert r.status_code == 202, r.content
    replay = r.json()
    assert replay["replay_of_id"] == world["failed"].pk and replay["event_id"] == str(
        world["failed"].event_id
    )
    r = _post_json(c, f"{API}/subscriptions/{world['sub'].pk}/test")
    assert r.status_code == 202 and r.json()["event"] == "webhook.test"
