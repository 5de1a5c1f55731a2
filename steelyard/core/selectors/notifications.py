"""Reading a user's inbox."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.db.models import Q, QuerySet

from steelyard.core.models import Notification

if TYPE_CHECKING:
    from steelyard.org.models import User

UNREAD = "unread"
ALL = "all"
STATES = (UNREAD, ALL)


def notification_list(*, user: User, filters: Mapping[str, Any] | None = None) -> QuerySet[Notification]:
    """The user's own notifications, newest first.

    ``filters["state"]`` is "unread" (default) or "all"; ``filters["q"]`` searches titles and text.

    A manager's wider data scope does not open their reports' inboxes: an inbox is personal.
    """
    filters = filters or {}
    qs = Notification.objects.visible_to(user).filter(recipient_id=user.pk).select_related("actor")
    if filters.get("state", UNREAD) != ALL:
        qs = qs.filter(read_at__isnull=True)
    q = (filters.get("q") or "").strip()
    if q:
        qs = qs.filter(Q(title__icontains=q) | Q(body__icontains=q))
    return qs.order_by("-created_at", "-id")


def unread_count(user: User) -> int:
    """How many unread notifications the user has: one COUNT on the (recipient, read_at) index."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return 0
    return Notification.objects.filter(recipient_id=user.pk, read_at__isnull=True).count()
