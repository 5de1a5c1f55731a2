"""Outbound webhooks end to end: events published by real services reach a local HTTP receiver that
verifies them with the code printed in docs/integrations-webhooks.md; retries with backoff; replay;
and no cost at all when nothing subscribes."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from steelyard.core import events
from steelyard.core.models import AuditLog
from steelyard.core.periodic import periodic_run
from steelyard.core.services import approvals as approval_services
from steelyard.customers.services.customers import customer_create
from steelyard.integrations.models import DeliveryStatus, WebhookAttempt, WebhookDelivery
from steelyard.integrations.services import webhooks as svc
from steelyard.integrations.tasks_webhooks import RETRY_JOB
from steelyard.orders.services.status import order_record_status
from steelyard.orders.testing import make_order, make_system

pytestmark = pytest.mark.django_db

DOC = Path(settings.BASE_DIR) / "docs" / "integrations-webhooks.md"
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
KIND = "test.webhook_discount"


def documented_verifier():
    """The receiver code from the docs (the block after the receiver-example marker), run as is."""
    text = DOC.read_text(encoding="utf-8")
    marker = text.index("<!-- receiver-example")
    block = re.search(r"```python\n(.*?)```", text[marker:], re.S)
    assert block, "the receiver example is missing from the docs"
    namespace: dict = {}
    exec(compile(block.group(1), str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace["verify_steelyard_webhook"]


verify_steelyard_webhook = documented_verifier()


class Receiver:
    """An HTTP endpoint on 127.0.0.1:<free port> that records requests and answers planned statuses."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.plan: list[int] = []  # statuses to answer, in order; 200 once exhausted
        self.secret = ""
        self.verified: list[bool] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.verified.append(verify_steelyard_webhook(receiver.secret, self.headers, body))
                receiver.requests.append({"headers": dict(self.headers.items()), "body": body})
                status = receiver.plan.pop(0) if receiver.plan else 200
                reply = b"temporarily down" if status >= 300 else b"ok"
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/steelyard"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(autouse=True)
def _fresh_cache():
    svc.webhook_cache_clear()
    yield
    svc.webhook_cache_clear()


@pytest.fixture
def kind():
    approval_services.approval_kind_register(
        KIND,
        label="Test discount",
        on_approved=lambda req, actor: None,
        default_steps=[{"type": "manager", "level": 1}],
    )
    yield KIND
    approval_services._kinds.pop(KIND, None)


@pytest.fixture
def erp(personas):
    system, _token = make_system("erp", token=False)
    return system


def subscribe(personas, system, receiver, events_):
    sub = svc.webhook_subscription_create(
        actor=personas.admin, system=system, url=receiver.url, events=events_, description="ERP"
    )
    receiver.secret = sub.secret
    return sub


# --- the documented scheme, end to end ---------------------------------------------------------------------


def test_a_receiver_built_from_the_docs_verifies_every_event(
    personas, erp, receiver, kind, django_capture_on_commit_callbacks
):
    p = personas
    sub = subscribe(
        p,
        erp,
        receiver,
        ["customer.created", "order.status_changed", "approval.requested", "approval.decided"],
    )
    with django_capture_on_commit_callbacks(execute=True):
        customer = customer_create(actor=p.alice, owner=p.alice, legal_name="钩子测试重工有限公司")
    order = make_order(customer, status="confirmed")
    with django_capture_on_commit_callbacks(execute=True):
        order_record_status(order=order, status="scheduled", at=timezone.now(), source="crm", actor=p.bob)
    with django_capture_on_commit_callbacks(execute=True):
        request = approval_services.approval_request_create(
            actor=p.alice,
            subject=customer,
            kind=kind,
            requested_change={"discount_pct": "8"},
            reason="大客户",
        )
    with django_capture_on_commit_callbacks(execute=True):
        approval_services.approval_decide(actor=p.bob, request=request, decision="approve", comment="同意")

    assert len(receiver.requests) == 4
    assert receiver.verified == [True, True, True, True]
    bodies = [json.loads(r["body"]) for r in receiver.requests]
    assert [b["type"] for b in bodies] == [
        "customer.created",
        "order.status_changed",
        "approval.requested",
        "approval.decided",
    ]
    for req, body in zip(receiver.requests, bodies, strict=True):
        assert req["headers"]["X-Steelyard-Event"] == body["type"]
        assert req["headers"]["Content-Type"].startswith("application/json")
        delivery = WebhookDelivery.objects.get(pk=int(req["headers"]["X-Steelyard-Delivery"]))
        assert str(delivery.event_id) == body["id"] and uuid.UUID(body["id"])
        assert delivery.subscription == sub and delivery.status == DeliveryStatus.DELIVERED
        assert (
            delivery.attempts == 1 and delivery.last_status_code == 200 and delivery.next_attempt_at is None
        )
        assert set(body) == {"id", "type", "created_at", "data"}
    created, status, requested, decided = (b["data"] for b in bodies)
    assert created["id"] == customer.pk and created["name"] == "钩子测试重工有限公司"
    assert created["owner"]["username"] == "alice" and "credit_code" in created
    assert status["order"] == order.number and status["status"] == "scheduled"
    assert status["previous_status"] == "confirmed"
    assert requested["id"] == request.pk and requested["kind"] == kind and requested["status"] == "pending"
    assert requested["requester"]["username"] == "alice" and requested["decided_by"] is None
    assert decided["status"] == "approved" and decided["decided_by"]["username"] == "bob"
    assert decided["comment"] == "同意"
    assert WebhookAttempt.objects.filter(delivery__subscription=sub, status_code=200).count() == 4

    # The same checks refuse a tampered body, a stale timestamp and another secret.
    first = receiver.requests[0]
    headers, body = first["headers"], first["body"]
    assert verify_steelyard_webhook(receiver.secret, headers, body)
    tampered = body.replace(b"\xe9\x92\xa9", b"\xe9\x92\xa5")  # one character of the name changed
    assert tampered != body
    assert not verify_steelyard_webhook(receiver.secret, headers, tampered)
    assert not verify_steelyard_webhook(receiver.secret, headers, body + b" ")
    stale = int(headers["X-Steelyard-Timestamp"]) + 301
    assert not verify_steelyard_webhook(receiver.secret, headers, body, now=stale)
    assert not verify_steelyard_webhook("whsec_other", headers, body)
    # The library's own check agrees with the documented one.
    assert svc.verify(
        receiver.secret, body, headers["X-Steelyard-Timestamp"], headers["X-Steelyard-Signature"]
    )
    assert not svc.verify(
        receiver.secret, tampered, headers["X-Steelyard-Timestamp"], headers["X-Steelyard-Signature"]
    )


def test_one_event_goes_to_every_subscriber_with_the_same_event_id(
    personas, erp, receiver, django_capture_on_commit_callbacks
):
    oa, _token = make_system("oa", kind="oa", token=False)
    subscribe(personas, erp, receiver, ["customer.created"])
    second = svc.webhook_subscription_create(
        actor=personas.admin, system=oa, url=receiver.url + "?oa", events=["customer.created"]
    )
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        customer_create(actor=personas.alice, owner=personas.alice, legal_name="两个订阅有限公司")
    assert len(callbacks) == 1  # one sending job per transaction, not one per delivery
    deliveries = list(WebhookDelivery.objects.order_by("pk"))
    assert len(deliveries) == 2
    assert deliveries[0].event_id == deliveries[1].event_id
    assert {d.subscription_id for d in deliveries} == {second.pk, deliveries[0].subscription_id}
    assert len(receiver.requests) == 2
    assert receiver.verified[0] is True  # signed with the ERP's secret
    assert receiver.verified[1] is False  # the OA request was signed with the OA subscription's own secret
    assert verify_steelyard_webhook(
        second.secret, receiver.requests[1]["headers"], receiver.requests[1]["body"]
    )


def test_nothing_is_written_or_sent_when_the_business_change_rolls_back(
    personas, erp, receiver, django_capture_on_commit_callbacks
):
    from django.db import transaction

    subscribe(personas, erp, receiver, ["customer.created"])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                customer_create(actor=personas.alice, owner=personas.alice, legal_name="回滚有限公司")
                raise RuntimeError("the caller changes its mind")
    assert callbacks == []
    assert not WebhookDelivery.objects.exists()
    assert receiver.requests == []


# --- retries -----------------------------------------------------------------------------------------------


def publish_one(personas, django_capture_on_commit_callbacks, name="重试有限公司"):
    with django_capture_on_commit_callbacks(execute=True):
        customer_create(actor=personas.alice, owner=personas.alice, legal_name=name)
    return WebhookDelivery.objects.get()


def test_a_failed_attempt_is_retried_after_the_backoff_and_then_delivered(
    personas, erp, receiver, django_capture_on_commit_callbacks
):
    subscribe(personas, erp, receiver, ["customer.created"])
    receiver.plan = [500, 200]
    with time_machine.travel(T0, tick=False):
        d = publish_one(personas, django_capture_on_commit_callbacks)
    d.refresh_from_db()
    assert d.status == DeliveryStatus.RETRYING and d.attempts == 1
    assert d.last_status_code == 500 and d.last_error == "temporarily down"
    assert d.next_attempt_at == T0 + dt.timedelta(minutes=1)

    with time_machine.travel(T0 + dt.timedelta(seconds=30), tick=False):
        periodic_run(RETRY_JOB)  # not due yet
    d.refresh_from_db()
    assert d.attempts == 1 and len(receiver.requests) == 1

    with time_machine.travel(T0 + dt.timedelta(minutes=1, seconds=5), tick=False):
        job = periodic_run(RETRY_JOB)
    d.refresh_from_db()
    assert job.result["delivered"] == 1
    assert d.status == DeliveryStatus.DELIVERED and d.attempts == 2 and d.last_status_code == 200
    assert d.next_attempt_at is None and d.last_error == ""
    assert d.delivered_at == T0 + dt.timedelta(minutes=1, seconds=5)
    assert receiver.verified == [True, True]  # the retry is signed afresh with its own timestamp
    stamps = [int(r["headers"]["X-Steelyard-Timestamp"]) for r in receiver.requests]
    assert stamps == [int(T0.timestamp()), int(T0.timestamp()) + 65]
    assert [r["body"] for r in receiver.requests][0] == receiver.requests[1]["body"]
    log = list(d.attempt_log.values_list("number", "status_code", "error"))
    assert log == [(1, 500, "temporarily down"), (2, 200, "")]


def test_after_the_last_attempt_the_delivery_fails(
    personas, erp, receiver, django_capture_on_commit_callbacks
):
    subscribe(personas, erp, receiver, ["customer.created"])
    receiver.plan = [503] * 10
    with time_machine.travel(T0, tick=False):
        d = publish_one(personas, django_capture_on_commit_callbacks)
    waits = []
    at = T0
    for _ in range(svc.MAX_ATTEMPTS - 1):
        d.refresh_from_db()
        assert d.status == DeliveryStatus.RETRYING
        waits.append(d.next_attempt_at - at)
        at = d.next_attempt_at
        with time_machine.travel(at, tick=False):
            periodic_run(RETRY_JOB)
    d.refresh_from_db()
    assert waits == [
        dt.timedelta(minutes=1),
        dt.timedelta(minutes=5),
        dt.timedelta(minutes=30),
        dt.timedelta(hours=2),
        dt.timedelta(hours=12),
    ]
    assert d.status == DeliveryStatus.FAILED and d.attempts == svc.MAX_ATTEMPTS == 6
    assert d.next_attempt_at is None and d.last_status_code == 503
    assert len(receiver.requests) == 6 and all(receiver.verified)
    with time_machine.travel(at + dt.timedelta(days=2), tick=False):
        periodic_run(RETRY_JOB)
    assert len(receiver.requests) == 6  # a failed delivery is left alone


def test_a_network_error_is_recorded_and_retried(personas, erp, django_capture_on_commit_callbacks):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    svc.webhook_subscription_create(
        actor=personas.admin, system=erp, url=f"http://127.0.0.1:{port}/", events=["customer.created"]
    )
    with time_machine.travel(T0, tick=False):
        d = publish_one(personas, django_capture_on_commit_callbacks)
    d.refresh_from_db()
    assert d.status == DeliveryStatus.RETRYING and d.last_status_code is None
    assert "connection failed" in d.last_error
    assert d.attempt_log.get().status_code is None


def test_a_claimed_delivery_is_not_sent_twice(personas, erp, receiver):
    sub = subscribe(personas, erp, receiver, ["customer.created"])
    customer_create(actor=personas.alice, owner=personas.alice, legal_name="并发有限公司")  # not committed
    d = WebhookDelivery.objects.get(subscription=sub)
    assert svc._claim(d.pk, timezone.now())  # another worker took it a moment ago ...
    assert svc.webhook_delivery_attempt(delivery_id=d.pk) is None  # ... so this one leaves it alone
    assert receiver.requests == []
    with time_machine.travel(timezone.now() + svc.LEASE + dt.timedelta(seconds=1), tick=False):
        first = svc.webhook_delivery_attempt(delivery_id=d.pk)  # that worker died: the lease ran out
        second = svc.webhook_delivery_attempt(delivery_id=d.pk)
    assert first is not None and first.status == DeliveryStatus.DELIVERED
    assert second is None
    assert len(receiver.requests) == 1


# --- replay, test events, rotation, deactivation ----------------------------------------------------------


def test_replay_sends_the_same_event_id_again_as_a_new_delivery(
    personas, erp, receiver, django_capture_on_commit_callbacks
):
    subscribe(personas, erp, receiver, ["customer.created"])
    original = publish_one(personas, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        replay = svc.webhook_delivery_replay(actor=personas.admin, delivery=original)
    replay.refresh_from_db()
    assert replay.pk != original.pk and replay.replay_of == original
    assert replay.event_id == original.event_id and replay.payload == original.payload
    assert replay.status == DeliveryStatus.DELIVERED
    ids = [json.loads(r["body"])["id"] for r in receiver.requests]
    assert ids == [str(original.event_id)] * 2
    deliveries = [r["headers"]["X-Steelyard-Delivery"] for r in receiver.requests]
    assert deliveries == [str(original.pk), str(replay.pk)]
    entry = AuditLog.objects.get(verb=svc.AUDIT_REPLAYED)
    assert entry.object_id == str(original.pk) and entry.extra["replay"] == replay.pk


def test_the_test_event_reaches_the_receiver_signed(
    personas, erp, receiver, django_capture_on_commit_callbacks
):
    sub = subscribe(personas, erp, receiver, ["opportunity.won"])
    with django_capture_on_commit_callbacks(execute=True):
        d = svc.webhook_send_test(actor=personas.admin, subscription=sub)
    d.refresh_from_db()
    assert d.status == DeliveryStatus.DELIVERED and d.event == svc.EVENT_TEST
    assert receiver.verified == [True]
    assert receiver.requests[0]["headers"]["X-Steelyard-Event"] == "webhook.test"
    assert AuditLog.objects.filter(verb=svc.AUDIT_TEST_SENT, object_id=str(sub.pk)).exists()


def test_a_rotated_secret_signs_from_the_next_attempt_on(
    personas, erp, receiver, django_capture_on_commit_callbacks
):
    sub = subscribe(personas, erp, receiver, ["customer.created"])
    old = sub.secret
    receiver.plan = [500]
    with time_machine.travel(T0, tick=False):
        d = publish_one(personas, django_capture_on_commit_callbacks)
    sub = svc.webhook_subscription_rotate_secret(actor=personas.admin, subscription=sub)
    assert sub.secret != old and sub.secret.startswith("whsec_")
    receiver.secret = sub.secret
    with time_machine.travel(T0 + dt.timedelta(minutes=2), tick=False):
        periodic_run(RETRY_JOB)
    d.refresh_from_db()
    assert d.status == DeliveryStatus.DELIVERED
    first, retry = receiver.requests
    assert verify_steelyard_webhook(old, first["headers"], first["body"], now=T0.timestamp())
    assert not verify_steelyard_webhook(sub.secret, first["headers"], first["body"], now=T0.timestamp())
    assert receiver.verified[1] is True  # the retry is signed with the new secret
    assert not verify_steelyard_webhook(old, retry["headers"], retry["body"], now=T0.timestamp() + 120)
    rotated = AuditLog.objects.get(verb=svc.AUDIT_SECRET_ROTATED)
    assert old not in json.dumps(rotated.changes) and sub.secret not in json.dumps(rotated.extra)


def test_a_deactivated_subscription_gets_nothing_and_its_waiting_deliveries_fail(
    personas, erp, receiver, django_capture_on_commit_callbacks
):
    sub = subscribe(personas, erp, receiver, ["customer.created"])
    receiver.plan = [500]
    with time_machine.travel(T0, tick=False):
        d = publish_one(personas, django_capture_on_commit_callbacks)
    svc.webhook_subscription_set_active(actor=personas.admin, subscription=sub, is_active=False)
    with time_machine.travel(T0 + dt.timedelta(minutes=2), tick=False):
        periodic_run(RETRY_JOB)
    d.refresh_from_db()
    assert d.status == DeliveryStatus.FAILED and d.attempts == 1
    with django_capture_on_commit_callbacks(execute=True):
        customer_create(actor=personas.alice, owner=personas.alice, legal_name="停用之后有限公司")
    assert WebhookDelivery.objects.count() == 1
    assert len(receiver.requests) == 1


def test_a_deactivated_system_gets_nothing(personas, erp, receiver, django_capture_on_commit_callbacks):
    subscribe(personas, erp, receiver, ["customer.created"])
    svc.subscribed_ids("customer.created")  # cached while the system is active
    erp.is_active = False
    erp.save()  # however the system is changed, the cache is dropped
    with django_capture_on_commit_callbacks(execute=True):
        customer_create(actor=personas.alice, owner=personas.alice, legal_name="系统停用有限公司")
    assert not WebhookDelivery.objects.exists()


# --- cost when nothing subscribes -------------------------------------------------------------------------


@pytest.fixture
def only_webhooks(monkeypatch):
    """The bus with only the webhook subscriber on it, so the queries counted are ours."""
    handlers = [s for s in events._subscribers if s[0] == "integrations.webhooks"]
    assert handlers, "the webhook subscriber is not on the bus"
    monkeypatch.setattr(events, "_subscribers", handlers)


def _non_savepoint(queries):
    return [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"].upper()]


def test_publishing_with_no_subscription_writes_nothing_and_runs_no_query(personas, erp, only_webhooks):
    svc.subscribed_ids("order.status_changed")  # the cache is filled once (one query) ...
    with CaptureQueriesContext(connection) as ctx:
        for i in range(50):  # ... then fifty events cost nothing
            events.publish("order.status_changed", payload={"order": f"SO{i}", "status": "shipped"})
    assert _non_savepoint(ctx.captured_queries) == []
    assert not WebhookDelivery.objects.exists()


def test_a_subscription_to_another_event_costs_nothing_either(personas, erp, receiver, only_webhooks):
    subscribe(personas, erp, receiver, ["customer.created"])
    svc.subscribed_ids("order.status_changed")
    with CaptureQueriesContext(connection) as ctx:
        for i in range(50):
            events.publish("order.status_changed", payload={"order": f"SO{i}", "status": "shipped"})
    assert _non_savepoint(ctx.captured_queries) == []
    # ... while the subscribed event is written, once per event (the control that the counting works).
    with CaptureQueriesContext(connection) as ctx:
        events.publish("customer.created", payload={"id": 1, "name": "x"})
    assert any("integrations_webhookdelivery" in q for q in _non_savepoint(ctx.captured_queries))
    assert WebhookDelivery.objects.count() == 1


def test_a_new_subscription_is_seen_at_once_in_this_process(personas, erp, receiver, only_webhooks):
    assert svc.subscribed_ids("order.status_changed") == ()
    sub = subscribe(personas, erp, receiver, ["order.status_changed"])
    assert svc.subscribed_ids("order.status_changed") == (sub.pk,)
    svc.webhook_subscription_update(actor=personas.admin, subscription=sub, events=["customer.created"])
    assert svc.subscribed_ids("order.status_changed") == ()
    assert svc.subscribed_ids("customer.created") == (sub.pk,)


def test_a_stale_cache_entry_is_harmless(personas, erp, receiver, only_webhooks):
    sub = subscribe(personas, erp, receiver, ["customer.created"])
    svc.subscribed_ids("customer.created")
    type(sub).objects.filter(pk=sub.pk).update(is_active=False)  # behind the cache's back (another process)
    events.publish("customer.created", payload={"id": 1})
    assert not WebhookDelivery.objects.exists()


def test_payload_values_are_made_json_safe(personas, erp, receiver, only_webhooks):
    from decimal import Decimal

    subscribe(personas, erp, receiver, ["payment.received"])
    events.publish("payment.received", payload={"amount": Decimal("12500.50"), "at": T0})
    d = WebhookDelivery.objects.get()
    assert d.payload["data"] == {"amount": "12500.50", "at": "2026-03-02T09:00:00Z"}
    assert json.loads(svc.encode_body(d.payload)) == d.payload
