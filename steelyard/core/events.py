"""Domain events: one module says "this happened", others react, without importing each other.

A service publishes an event inside its transaction, after the change is made::

    from steelyard.core.events import publish

    publish("order.status_changed", subject=order, actor=actor,
            payload={"order": order.number, "status": order.status, ...})

Subscribers are registered once (from an ``AppConfig.ready``) and are called synchronously,
in the publisher's transaction: outbound webhooks and customer messages write their
*outbox* rows there (so they exist exactly when the change commits) and hand the slow
sending to a background job after commit. A subscriber that raises is logged and skipped:
an integration problem must never undo the business change.

The event types are declared with :func:`declare` (code, label, description) so screens can
offer them in a subscription form; publishing an undeclared type raises, which keeps the
catalogue honest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import models, transaction

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EventType:
    code: str
    label: Any  # lazy translation
    description: Any = ""
    customer_facing: bool = False  # may be sent to customers (order status), not only to systems


@dataclass(frozen=True)
class Event:
    type: str
    payload: dict[str, Any]
    subject: models.Model | None = None
    actor: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


Subscriber = Callable[[Event], None]
Wants = Callable[[str], bool]

_types: dict[str, EventType] = {}
_subscribers: list[tuple[str, Subscriber, Wants | None]] = []


def declare(code: str, label: Any, description: Any = "", *, customer_facing: bool = False) -> EventType:
    """Declare an event type (idempotent); returns it."""
    et = EventType(code, label, description, customer_facing)
    _types[code] = et
    return et


def event_types() -> list[EventType]:
    return sorted(_types.values(), key=lambda e: e.code)


def event_type(code: str) -> EventType | None:
    return _types.get(code)


def subscribe(key: str, handler: Subscriber, *, wants: Wants | None = None) -> None:
    """Register ``handler`` under ``key`` (a second registration under the same key replaces it).

    ``wants(event_type) -> bool``, when given, is asked first and must be cheap (no query, or a
    cached one): an event it declines costs nothing — no savepoint, no call. A bulk import that
    publishes thousands of events nobody listens to stays fast this way.
    """
    for i, (k, _h, _w) in enumerate(_subscribers):
        if k == key:
            _subscribers[i] = (key, handler, wants)
            return
    _subscribers.append((key, handler, wants))


def publish(
    event: str,
    *,
    payload: dict[str, Any],
    subject: models.Model | None = None,
    actor: Any = None,
    **extra: Any,
) -> Event:
    """Tell every subscriber that ``event`` happened. Call inside the service's transaction."""
    if event not in _types:
        raise ValueError(f"undeclared event type {event!r}")
    ev = Event(event, payload, subject, actor, extra)
    for key, handler, wants in list(_subscribers):
        if wants is not None and not wants(event):
            continue
        try:
            with transaction.atomic():  # a savepoint: a failing subscriber leaves no half-written rows
                handler(ev)
        except Exception:
            logger.exception("event subscriber %s failed for %s", key, event)
    return ev
