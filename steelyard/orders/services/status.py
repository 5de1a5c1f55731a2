"""The order status timeline: the one function that records a step of an order's journey.

Every writer (a person in the CRM, the ERP through the integration API, the MES through
production status, a file import) calls :func:`order_record_status`. It is idempotent — the
same (order, status, time) is recorded once — and order-independent: the order's current
status is the furthest step of the happy path reached so far (``cancelled`` ends it), so an
event that arrives late never moves an order backwards. When the current status changes,
``order.status_changed`` is published (outbound webhooks and customer messages react), and
a confirmed order counts as a deal on the customer's pool clock.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from steelyard.core.events import publish
from steelyard.core.services.audit import audit_record
from steelyard.customers.services.pool import customer_record_event
from steelyard.orders.models import STATUS_RANK, OrderStatus, OrderStatusEvent, SalesOrder

ERR_UNKNOWN_STATUS = _("“%(status)s” is not an order status.")
ERR_NAIVE_TIME = _("The time of a status change must include its time zone.")

EVENT_STATUS_CHANGED = "order.status_changed"


def current_status(statuses: list[tuple[str, dt.datetime]]) -> tuple[str, dt.datetime] | None:
    """The status an order is in, given its events: cancelled if cancelled, else the furthest step."""
    if not statuses:
        return None
    cancelled = [at for s, at in statuses if s == OrderStatus.CANCELLED]
    if cancelled:
        return OrderStatus.CANCELLED, max(cancelled)
    best = max(statuses, key=lambda e: (STATUS_RANK[e[0]], e[1]))
    return best


def status_payload(order: SalesOrder, previous: str | None) -> dict[str, Any]:
    return {
        "order": order.number,
        "order_id": order.pk,
        "customer_id": order.customer_id,
        "status": order.status,
        "previous_status": previous,
        "status_at": order.status_at.isoformat() if order.status_at else None,
    }


@transaction.atomic
def order_record_status(
    *,
    order: SalesOrder,
    status: str,
    at: dt.datetime,
    source: str,
    actor: Any = None,
    note: str = "",
    audit: bool = True,
) -> tuple[OrderStatusEvent | None, bool]:
    """Record that ``order`` reached ``status`` at ``at``; returns (the new event or None, status changed).

    None means the very same step was already on the timeline (a replay).
    """
    if status not in STATUS_RANK:
        raise ValidationError({"status": ERR_UNKNOWN_STATUS % {"status": status}}, code="invalid")
    if at.tzinfo is None:
        raise ValidationError({"at": ERR_NAIVE_TIME}, code="invalid")
    # Lock the order row so two writers recomputing the status cannot interleave.
    order = SalesOrder.objects.select_for_update().get(pk=order.pk)
    event, created = OrderStatusEvent.objects.get_or_create(
        order=order,
        status=status,
        at=at,
        defaults={
            "source": source[:40],
            "actor": actor if getattr(actor, "pk", None) else None,
            "note": note,
        },
    )
    if not created:
        return None, False
    events = list(order.status_events.values_list("status", "at"))
    new_status, new_at = current_status(events) or (status, at)
    previous = order.status
    changed = (new_status, new_at) != (order.status, order.status_at)
    if changed:
        order.status, order.status_at = new_status, new_at
        order.save(update_fields=["status", "status_at", "updated_at"])  # through save: history keeps it
    if status == OrderStatus.CONFIRMED:
        customer_record_event(customer=order.customer, event="deal", at=at)
    if audit:
        audit_record(
            actor=actor,
            action="update",
            obj=order,
            verb="orders.status",
            changes={"status": [previous, order.status]} if previous != order.status else None,
            extra={"event": status, "at": at.isoformat(), "source": source},
        )
    if previous != order.status:
        publish(EVENT_STATUS_CHANGED, payload=status_payload(order, previous), subject=order, actor=actor)
    return event, previous != order.status
