"""Outbound webhooks: external systems subscribe to domain events and are told, signed, when they happen.

The flow:

1. A service publishes an event on the bus (``steelyard.core.events.publish``). :func:`on_event`,
   subscribed from ``registrations/webhooks.py``, writes one :class:`WebhookDelivery` per active
   subscription to that event type, inside the publisher's transaction (the outbox), and asks for
   one background job per transaction to send them once it commits.
2. :func:`webhook_delivery_attempt` POSTs the envelope ``{"id", "type", "created_at", "data"}``,
   signed (see :func:`sign`), and records the attempt. 2xx is delivered; anything else is retried
   after :data:`BACKOFF` (1 min, 5 min, 30 min, 2 h, 12 h), and after :data:`MAX_ATTEMPTS` the
   delivery is failed. The periodic job ``integrations.webhook_retries`` picks due retries.
3. Administrators manage subscriptions, rotate secrets, send test events and replay deliveries
   (a replay is a new delivery with ``replay_of`` and the same event id, so receivers de-duplicate).

Cheap when nothing subscribes: the active subscriptions are cached per process as
``{event type: subscription ids}`` (refreshed every :data:`CACHE_TTL` seconds, dropped at once when a
subscription or system changes in this process), so publishing an event nobody subscribes to runs
no query at all. The signing scheme is documented for receivers in ``docs/integrations-webhooks.md``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from steelyard.core.access import ADMINISTRATOR, user_has_role
from steelyard.core.events import Event, event_type
from steelyard.core.models import AuditAction
from steelyard.core.services.audit import audit_record, diff, snapshot
from steelyard.integrations.http import HttpPostError, post_json
from steelyard.integrations.models import (
    DeliveryStatus,
    ExternalSystem,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)

logger = logging.getLogger(__name__)

# --- the scheme ------------------------------------------------------------------------------------------
SIGNATURE_VERSION = "v1"
HEADER_EVENT = "X-Steelyard-Event"
HEADER_DELIVERY = "X-Steelyard-Delivery"
HEADER_TIMESTAMP = "X-Steelyard-Timestamp"
HEADER_SIGNATURE = "X-Steelyard-Signature"
TOLERANCE_SECONDS = 300  # receivers reject older (or further future) timestamps
SECRET_PREFIX = "whsec_"
EVENT_TEST = "webhook.test"

# --- sending ---------------------------------------------------------------------------------------------
BACKOFF = (
    dt.timedelta(minutes=1),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=12),
)
MAX_ATTEMPTS = len(BACKOFF) + 1  # the first try, then one retry per step: ~14.6 hours in all
LEASE = dt.timedelta(minutes=2)  # a claimed delivery is not picked again for this long (> the timeout)
ERROR_CHARS = 1000
JOB_CHUNK = 500  # delivery ids per background job
CACHE_TTL = 30.0  # seconds: how soon another process sees a new subscription

OPEN_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)
REPLAYABLE = (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.RETRYING)

AUDIT_SECRET_ROTATED = "integrations.webhook_secret_rotated"
AUDIT_TEST_SENT = "integrations.webhook_test_sent"
AUDIT_REPLAYED = "integrations.webhook_replayed"
AUDITED_FIELDS = ("system_id", "url", "events", "description", "is_active")  # never the secret

ERR_ADMIN_ONLY = _("Only administrators may manage webhooks.")
ERR_NO_EVENTS = _("Choose at least one event.")
ERR_UNKNOWN_EVENTS = _("Unknown events: %(codes)s.")
ERR_URL = _("Enter an http:// or https:// address.")
ERR_INACTIVE = _("This subscription or its system is inactive: activate it first.")
ERR_NOT_REPLAYABLE = _("This delivery is about to be sent; wait for its first attempt before replaying it.")
ERR_HAS_DELIVERIES = _("This subscription has deliveries in its log: deactivate it instead of deleting it.")
MSG_INACTIVE = _("Not sent: the subscription or its system was deactivated.")
MSG_TEST = _("This is a test event from Steelyard.")

_url_validator = URLValidator(schemes=["http", "https"])


# --- signing ---------------------------------------------------------------------------------------------


def generate_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """``v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``: the value of ``X-Steelyard-Signature``."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


def verify(secret: str, body: bytes, timestamp: str, signature: str, *, now: float | None = None) -> bool:
    """What a receiver checks (Python receivers may copy it): a fresh timestamp and a matching signature."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - ts) > TOLERANCE_SECONDS:
        return False
    expected = sign(secret, ts, body)
    candidates = [s.strip() for s in (signature or "").split(",")]
    return any(hmac.compare_digest(expected, c) for c in candidates)


def encode_body(payload: Any) -> bytes:
    """The exact bytes sent (and signed): compact UTF-8 JSON with sorted keys."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def _json_safe(data: Any) -> Any:
    # Decimal → "12.50", datetimes → ISO 8601, UUID → str, lazy strings → str.
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def envelope(*, event_id: uuid.UUID, type: str, data: Any, created_at: dt.datetime | None = None) -> dict:
    return {
        "id": str(event_id),
        "type": type,
        "created_at": (created_at or timezone.now()).isoformat(),
        "data": _json_safe(data),
    }


def signed_headers(delivery: WebhookDelivery, secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    return {
        HEADER_EVENT: delivery.event,
        HEADER_DELIVERY: str(delivery.pk),
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: sign(secret, timestamp, body),
    }


# --- who subscribes to what (cached per process) ---------------------------------------------------------


@dataclass
class _Snapshot:
    by_event: dict[str, tuple[int, ...]]
    loaded_at: float


_snapshot: _Snapshot | None = None
_snapshot_lock = threading.Lock()


def webhook_cache_clear() -> None:
    """Forget the cached subscriptions; the next event reloads them (one query)."""
    global _snapshot
    with _snapshot_lock:
        _snapshot = None


def _load_snapshot() -> _Snapshot:
    by_event: dict[str, list[int]] = {}
    rows = WebhookSubscription.objects.filter(is_active=True, system__is_active=True).values_list(
        "pk", "events"
    )
    for pk, codes in rows:
        for code in codes or ():
            by_event.setdefault(str(code), []).append(pk)
    return _Snapshot({k: tuple(v) for k, v in by_event.items()}, time.monotonic())


def subscribed_ids(event: str) -> tuple[int, ...]:
    """The ids of the active subscriptions to ``event``, from the per-process cache."""
    global _snapshot
    snap = _snapshot
    if snap is None or time.monotonic() - snap.loaded_at > CACHE_TTL:
        snap = _load_snapshot()
        with _snapshot_lock:
            _snapshot = snap
    return snap.by_event.get(event, ())


# --- the outbox: writing deliveries in the publisher's transaction ----------------------------------------


@dataclass
class _Batch:
    ids: list[int] = field(default_factory=list)
    flushed: bool = False

    def flush(self) -> None:
        self.flushed = True
        ids, self.ids = self.ids, []
        for start in range(0, len(ids), JOB_CHUNK):
            _enqueue_send(ids[start : start + JOB_CHUNK])


_local = threading.local()


def _is_registered(batch: _Batch) -> bool:
    """Still waiting in this connection's on-commit list (a rollback discards the callback)."""
    if batch.flushed:
        return False
    return any(getattr(entry[1], "__self__", None) is batch for entry in connection.run_on_commit)


def _schedule(ids: Iterable[int]) -> None:
    """Send these deliveries in a background job once the current transaction commits (one job per commit)."""
    ids = list(ids)
    if not ids:
        return
    batch = getattr(_local, "batch", None)
    if batch is not None and connection.in_atomic_block and _is_registered(batch):
        batch.ids.extend(ids)
        return
    batch = _Batch(ids=ids)
    _local.batch = batch
    transaction.on_commit(batch.flush, robust=True)  # outside a transaction this runs at once


def _enqueue_send(ids: list[int]) -> None:
    from steelyard.core.tasks import enqueue_job
    from steelyard.integrations.tasks_webhooks import webhook_send

    try:
        enqueue_job(webhook_send, label=str(_("Send webhooks")), kwargs={"delivery_ids": ids})
    except Exception:  # the periodic job picks them up: a queue problem must not break the caller
        logger.exception("could not enqueue webhook deliveries %s", ids)


def on_event(event: Event) -> None:
    """Bus subscriber: one delivery per active subscription to ``event.type``; no query when there is none."""
    ids = subscribed_ids(event.type)
    if not ids:
        return
    targets = list(
        WebhookSubscription.objects.filter(pk__in=ids, is_active=True, system__is_active=True).values_list(
            "pk", flat=True
        )
    )
    if not targets:
        return
    event_id = uuid.uuid4()
    now = timezone.now()
    payload = envelope(event_id=event_id, type=event.type, data=event.payload, created_at=now)
    created = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                subscription_id=pk,
                event=event.type,
                event_id=event_id,
                payload=payload,
                status=DeliveryStatus.PENDING,
                next_attempt_at=now,
            )
            for pk in targets
        ]
    )
    _schedule(d.pk for d in created if d.pk)


# --- sending ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptResult:
    delivery_id: int
    status: str
    status_code: int | None
    error: str


def next_attempt_delay(attempts: int) -> dt.timedelta | None:
    """The wait after ``attempts`` failed tries, or None when the delivery has had its last try."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return BACKOFF[min(attempts, len(BACKOFF)) - 1]


def _claim(delivery_id: int, now: dt.datetime) -> bool:
    # A conditional UPDATE: of two workers picking the same delivery, exactly one gets it.
    return bool(
        WebhookDelivery.objects.filter(
            pk=delivery_id, status__in=OPEN_STATUSES, next_attempt_at__lte=now
        ).update(next_attempt_at=now + LEASE)
    )


def _timeout() -> float:
    return float(getattr(settings, "WEBHOOK_TIMEOUT", 10))


def webhook_delivery_attempt(*, delivery_id: int) -> AttemptResult | None:
    """Try to send one due delivery now and record the attempt; None when it is not due or taken."""
    now = timezone.now()
    if not _claim(delivery_id, now):
        return None
    delivery = WebhookDelivery.objects.select_related("subscription__system").get(pk=delivery_id)
    sub = delivery.subscription
    if not (sub.is_active and sub.system.is_active):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.FAILED, next_attempt_at=None, last_error=str(MSG_INACTIVE)
        )
        return AttemptResult(delivery.pk, DeliveryStatus.FAILED, None, str(MSG_INACTIVE))
    body = encode_body(delivery.payload)
    timestamp = int(now.timestamp())
    headers = signed_headers(delivery, sub.secret, body, timestamp)
    started = time.monotonic()
    status_code: int | None
    try:
        status_code, excerpt = post_json(sub.url, body, headers, timeout=_timeout())
    except HttpPostError as exc:
        status_code, excerpt = None, exc.message
    duration_ms = int((time.monotonic() - started) * 1000)
    ok = status_code is not None and 200 <= status_code < 300
    return _record_attempt(
        delivery=delivery,
        at=now,
        ok=ok,
        status_code=status_code,
        error="" if ok else (excerpt or f"HTTP {status_code}")[:ERROR_CHARS],
        duration_ms=duration_ms,
    )


@transaction.atomic
def _record_attempt(
    *,
    delivery: WebhookDelivery,
    at: dt.datetime,
    ok: bool,
    status_code: int | None,
    error: str,
    duration_ms: int,
) -> AttemptResult:
    attempts = delivery.attempts + 1
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=attempts,
        at=at,
        status_code=status_code,
        error=error,
        duration_ms=duration_ms,
    )
    fields: dict[str, Any] = {"attempts": attempts, "last_status_code": status_code, "last_error": error}
    if ok:
        fields.update(status=DeliveryStatus.DELIVERED, next_attempt_at=None, delivered_at=timezone.now())
    else:
        delay = next_attempt_delay(attempts)
        if delay is None:
            fields.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
        else:
            fields.update(status=DeliveryStatus.RETRYING, next_attempt_at=at + delay)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
    for name, value in fields.items():
        setattr(delivery, name, value)
    return AttemptResult(delivery.pk, fields["status"], status_code, error)


def webhook_send_many(delivery_ids: Iterable[int], *, progress: Any = None) -> dict[str, int]:
    """Attempt each due delivery among ``delivery_ids``; counts by outcome."""
    ids = list(delivery_ids)
    counts = {"attempted": 0, "delivered": 0, "retrying": 0, "failed": 0, "skipped": 0}
    for i, pk in enumerate(ids, start=1):
        try:
            result = webhook_delivery_attempt(delivery_id=pk)
        except WebhookDelivery.DoesNotExist:
            result = None
        if result is None:
            counts["skipped"] += 1
        else:
            counts["attempted"] += 1
            counts[str(result.status)] = counts.get(str(result.status), 0) + 1
        if progress is not None:
            progress(i, len(ids))
    return counts


def webhook_due_ids(*, limit: int = 1000) -> list[int]:
    """Deliveries whose (next) attempt is due, oldest first."""
    return list(
        WebhookDelivery.objects.filter(status__in=OPEN_STATUSES, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


# --- administration --------------------------------------------------------------------------------------


def _require_admin(actor: Any) -> None:
    if not user_has_role(actor, ADMINISTRATOR):
        raise PermissionDenied(str(ERR_ADMIN_ONLY))


def clean_events(events: Any) -> list[str]:
    codes = [str(c) for c in (events or [])]
    if not codes:
        raise ValidationError({"events": ERR_NO_EVENTS})
    unknown = sorted({c for c in codes if event_type(c) is None})
    if unknown:
        raise ValidationError({"events": ERR_UNKNOWN_EVENTS % {"codes": ", ".join(unknown)}})
    return sorted(set(codes))


def clean_url(url: Any) -> str:
    url = str(url or "").strip()
    try:
        _url_validator(url)
    except ValidationError:
        raise ValidationError({"url": ERR_URL})
    return url


def _check_model(sub: WebhookSubscription) -> None:
    sub.full_clean(exclude=["system", "secret"])


@transaction.atomic
def webhook_subscription_create(
    *,
    actor: Any,
    system: ExternalSystem,
    url: str,
    events: Iterable[str],
    description: str = "",
    is_active: bool = True,
) -> WebhookSubscription:
    """Subscribe ``system``'s endpoint ``url`` to ``events``, with a new signing secret; audited (no secret)."""
    _require_admin(actor)
    sub = WebhookSubscription(
        system=system,
        url=clean_url(url),
        events=clean_events(list(events)),
        description=(description or "").strip(),
        is_active=is_active,
        secret=generate_secret(),
    )
    _check_model(sub)
    sub.save()
    audit_record(
        actor=actor, action=AuditAction.CREATE, obj=sub, changes=diff({}, snapshot(sub, AUDITED_FIELDS))
    )
    webhook_cache_clear()
    return sub


@transaction.atomic
def webhook_subscription_update(
    *, actor: Any, subscription: WebhookSubscription, **fields: Any
) -> WebhookSubscription:
    """Change ``url``, ``events``, ``description``, ``is_active`` or ``system``; the diff is audited."""
    _require_admin(actor)
    unknown = set(fields) - {"url", "events", "description", "is_active", "system"}
    if unknown:
        raise TypeError(f"webhook_subscription_update got unknown fields: {sorted(unknown)}")
    sub = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
    before = snapshot(sub, AUDITED_FIELDS)
    if "url" in fields:
        sub.url = clean_url(fields["url"])
    if "events" in fields:
        sub.events = clean_events(fields["events"])
    if "description" in fields:
        sub.description = (fields["description"] or "").strip()
    if "is_active" in fields:
        sub.is_active = bool(fields["is_active"])
    if fields.get("system") is not None:
        sub.system = fields["system"]
    _check_model(sub)
    sub.save()
    changes = diff(before, snapshot(sub, AUDITED_FIELDS))
    if changes:
        audit_record(actor=actor, action=AuditAction.UPDATE, obj=sub, changes=changes)
    webhook_cache_clear()
    return sub


def webhook_subscription_set_active(
    *, actor: Any, subscription: WebhookSubscription, is_active: bool
) -> WebhookSubscription:
    """Deactivate (nothing more is sent; pending deliveries fail) or re-activate a subscription."""
    return webhook_subscription_update(actor=actor, subscription=subscription, is_active=is_active)


@transaction.atomic
def webhook_subscription_rotate_secret(
    *, actor: Any, subscription: WebhookSubscription
) -> WebhookSubscription:
    """A new signing secret, used from the next attempt on (retries too); the old one stops working."""
    _require_admin(actor)
    sub = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
    sub.secret = generate_secret()
    sub.save(update_fields=["secret", "updated_at"])
    audit_record(actor=actor, action=AuditAction.ACTION, obj=sub, verb=AUDIT_SECRET_ROTATED)
    return sub


@transaction.atomic
def webhook_subscription_delete(*, actor: Any, subscription: WebhookSubscription) -> None:
    """Delete a subscription that never sent anything (otherwise deactivate it, keeping its log)."""
    _require_admin(actor)
    if WebhookDelivery.objects.filter(subscription=subscription).exists():
        raise ValidationError(ERR_HAS_DELIVERIES)
    audit_record(
        actor=actor,
        action=AuditAction.DELETE,
        obj=subscription,
        changes=diff(snapshot(subscription, AUDITED_FIELDS), {}),
    )
    subscription.delete()
    webhook_cache_clear()


@transaction.atomic
def webhook_send_test(*, actor: Any, subscription: WebhookSubscription) -> WebhookDelivery:
    """Queue a ``webhook.test`` event to this subscription only (sent after commit); audited."""
    _require_admin(actor)
    sub = WebhookSubscription.objects.select_related("system").get(pk=subscription.pk)
    if not (sub.is_active and sub.system.is_active):
        raise ValidationError(ERR_INACTIVE)
    event_id = uuid.uuid4()
    now = timezone.now()
    data = {"message": str(MSG_TEST), "subscription": sub.pk, "system": sub.system.code}
    delivery = WebhookDelivery.objects.create(
        subscription=sub,
        event=EVENT_TEST,
        event_id=event_id,
        payload=envelope(event_id=event_id, type=EVENT_TEST, data=data, created_at=now),
        next_attempt_at=now,
    )
    audit_record(
        actor=actor, action=AuditAction.ACTION, obj=sub, verb=AUDIT_TEST_SENT, extra={"delivery": delivery.pk}
    )
    _schedule([delivery.pk])
    return delivery


@transaction.atomic
def webhook_delivery_replay(*, actor: Any, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again as a new delivery (``replay_of``), same event id and payload; audited."""
    _require_admin(actor)
    original = WebhookDelivery.objects.select_related("subscription__system").get(pk=delivery.pk)
    sub = original.subscription
    if not (sub.is_active and sub.system.is_active):
        raise ValidationError(ERR_INACTIVE)
    if original.status not in REPLAYABLE:
        raise ValidationError(ERR_NOT_REPLAYABLE)
    replay = WebhookDelivery.objects.create(
        subscription=sub,
        event=original.event,
        event_id=original.event_id,
        payload=original.payload,
        replay_of=original,
        next_attempt_at=timezone.now(),
    )
    audit_record(
        actor=actor,
        action=AuditAction.ACTION,
        obj=original,
        verb=AUDIT_REPLAYED,
        extra={"replay": replay.pk, "event_id": str(original.event_id)},
    )
    _schedule([replay.pk])
    return replay
