"""Order-to-cash writes made by people in the CRM.

The ERP, MES and file imports own an order up to shipping (``services/sync.py``); after the goods
have left the plant the CRM records the steps the sales and service people witness: delivered,
installed, accepted. Every step goes through :func:`order_record_status`, the one writer of the
timeline (idempotent, never moves an order backwards, publishes ``order.status_changed``, audits).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from steelyard.customers.services.customers import can_change
from steelyard.orders.models import STATUS_RANK, OrderStatus, SalesOrder
from steelyard.orders.services.status import order_record_status

#: The steps the CRM records (after shipping).
CRM_STEPS = (OrderStatus.DELIVERED, OrderStatus.INSTALLED, OrderStatus.ACCEPTED)
#: A clock a little ahead of the server's is not "the future".
CLOCK_SKEW = dt.timedelta(minutes=5)
NOTE_MAX = 300
SOURCE_CRM = "crm"

ERR_NOT_ALLOWED = _("You may not change this customer's orders.")
ERR_STEP = _("Choose delivered, installed or accepted: the other steps come from the ERP and MES.")
ERR_FUTURE = _("This time is in the future. Record a step once it has happened.")
ERR_NAIVE = _("Give the time with its time zone.")
ERR_CANCELLED = _("This order was cancelled; its timeline is closed.")
ERR_NOT_SHIPPED = _(
    "The order has not shipped yet. Delivery, installation and acceptance come after shipping."
)
ERR_BEFORE_SHIPPING = _("This is before the order shipped (%(shipped)s).")
ERR_DUPLICATE = _("This step is already on the timeline at this time.")
ERR_NOTE = _("Keep the note under %(max)s characters.")


def can_record_status(user: Any, order: SalesOrder) -> bool:
    """May ``user`` record CRM steps on ``order``: whoever may change its customer (owner, managers, admin)."""
    return can_change(user, order.customer)


@transaction.atomic
def order_status_add(*, actor: Any, order: SalesOrder, status: str, at: dt.datetime, note: str = "") -> Any:
    """Record that ``order`` was delivered, installed or accepted at ``at``; returns the new event.

    Raises ``PermissionDenied`` unless the actor may change the customer, and ``ValidationError``
    (per field) for another step, a time in the future or before shipping, an order that has not
    shipped or was cancelled, or the very same step recorded twice.
    """
    if not can_record_status(actor, order):
        raise PermissionDenied(str(ERR_NOT_ALLOWED))
    note = (note or "").strip()
    errors: dict[str, Any] = {}
    if status not in CRM_STEPS:
        errors["status"] = ERR_STEP
    if at is None or timezone.is_naive(at):
        errors["at"] = ERR_NAIVE
    elif at > timezone.now() + CLOCK_SKEW:
        errors["at"] = ERR_FUTURE
    if len(note) > NOTE_MAX:
        errors["note"] = ERR_NOTE % {"max": NOTE_MAX}
    if errors:
        raise ValidationError(errors)
    fresh = SalesOrder.objects.select_for_update().get(pk=order.pk)
    if fresh.status == OrderStatus.CANCELLED:
        raise ValidationError(ERR_CANCELLED, code="cancelled")
    shipped_at = (
        fresh.status_events.filter(status=OrderStatus.SHIPPED)
        .order_by("at")
        .values_list("at", flat=True)
        .first()
    )
    if shipped_at is None and STATUS_RANK[fresh.status] < STATUS_RANK[OrderStatus.SHIPPED]:
        raise ValidationError({"status": ERR_NOT_SHIPPED})
    if shipped_at is not None and at < shipped_at:
        shown = timezone.localtime(shipped_at).strftime("%Y-%m-%d %H:%M")
        raise ValidationError({"at": ERR_BEFORE_SHIPPING % {"shipped": shown}})
    event, _changed = order_record_status(
        order=fresh, status=status, at=at, source=SOURCE_CRM, actor=actor, note=note
    )
    if event is None:
        raise ValidationError({"at": ValidationError(ERR_DUPLICATE, code="duplicate")})
    order.refresh_from_db(fields=["status", "status_at", "updated_at"])
    return event
