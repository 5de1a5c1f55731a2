"""Reading webhook subscriptions and the delivery log (administrators only), and their list filters.

Subscriptions and deliveries belong to no person or unit, so they have no data scope: only
administrators read them, and every selector checks that (``PermissionDenied`` otherwise), on top
of the views' and API routes' own role checks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from steelyard.core.access import ADMINISTRATOR, user_has_role
from steelyard.core.events import event_types
from steelyard.core.filters import ListFilter
from steelyard.integrations.models import (
    DeliveryStatus,
    ExternalSystem,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)

ERR_ADMIN_ONLY = _("Only administrators may see webhooks.")
ERR_DATE_RANGE = _("The start date must not be after the end date.")


def _require_admin(user: Any) -> None:
    if not user_has_role(user, ADMINISTRATOR):
        raise PermissionDenied(str(ERR_ADMIN_ONLY))


def event_choices(*, with_test: bool = False) -> list[tuple[str, Any]]:
    """The declared event types as (code, label) choices."""
    from steelyard.integrations.services.webhooks import EVENT_TEST

    choices = [(et.code, str(et.label)) for et in event_types()]
    if with_test:
        choices.append((EVENT_TEST, str(_("Test event"))))
    return choices


def event_label(code: str) -> str:
    from steelyard.core.events import event_type
    from steelyard.integrations.services.webhooks import EVENT_TEST

    if code == EVENT_TEST:
        return str(_("Test event"))
    et = event_type(code)
    return str(et.label) if et else code


def _system_choices() -> list[tuple[str, Any]]:
    return [("", _("All systems"))] + [
        (str(pk), name) for pk, name in ExternalSystem.objects.order_by("name").values_list("pk", "name")
    ]


# --- filters -----------------------------------------------------------------------------------------------


class SubscriptionFilter(ListFilter):
    """The subscriptions list: by system, event and state."""

    system = forms.TypedChoiceField(label=_("System"), required=False, coerce=int, empty_value=None)
    event = forms.ChoiceField(label=_("Event"), required=False)
    active = forms.ChoiceField(
        label=_("State"),
        required=False,
        choices=[("", _("Any state")), ("1", _("Active")), ("0", _("Inactive"))],
    )
    sort_fields = {"system": ("system__name", "url"), "url": ("url",), "created": ("created_at",)}
    default_sort = "system"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["system"].choices = _system_choices()  # type: ignore[attr-defined]
        self.fields["event"].choices = [("", _("Any event"))] + event_choices()  # type: ignore[attr-defined]

    def filter_queryset(self, queryset: QuerySet, data: dict[str, Any]) -> QuerySet:
        if data.get("system"):
            queryset = queryset.filter(system_id=data["system"])
        if data.get("event"):
            queryset = queryset.filter(_events_include(data["event"]))
        if data.get("active") in ("0", "1"):
            queryset = queryset.filter(is_active=data["active"] == "1")
        return queryset


def _events_include(code: str) -> Q:
    """Subscriptions whose ``events`` list holds ``code`` (JSON containment; SQLite matches the quoted code)."""
    if connection.vendor == "postgresql":
        return Q(events__contains=[code])
    return Q(events__icontains=f'"{code}"')


class DeliveryFilter(ListFilter):
    """The delivery log: by system, subscription, event, status and day (local dates, inclusive)."""

    system = forms.TypedChoiceField(label=_("System"), required=False, coerce=int, empty_value=None)
    subscription = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    event = forms.ChoiceField(label=_("Event"), required=False)
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any status")), *DeliveryStatus.choices]
    )
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    q = forms.UUIDField(label=_("Event id"), required=False)
    sort_fields = {"created": ("created_at",), "attempts": ("attempts",)}
    default_sort = "-created"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["system"].choices = _system_choices()  # type: ignore[attr-defined]
        self.fields["event"].choices = [("", _("Any event"))] + event_choices(with_test=True)  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", ERR_DATE_RANGE)
        return data

    def filter_queryset(self, queryset: QuerySet, data: dict[str, Any]) -> QuerySet:
        tz = timezone.get_current_timezone()
        if data.get("system"):
            queryset = queryset.filter(subscription__system_id=data["system"])
        if data.get("subscription"):
            queryset = queryset.filter(subscription_id=data["subscription"])
        if data.get("event"):
            queryset = queryset.filter(event=data["event"])
        if data.get("status"):
            queryset = queryset.filter(status=data["status"])
        if data.get("date_from"):
            queryset = queryset.filter(
                created_at__gte=dt.datetime.combine(data["date_from"], dt.time.min, tz)
            )
        if data.get("date_to"):
            end = dt.datetime.combine(data["date_to"] + dt.timedelta(days=1), dt.time.min, tz)
            queryset = queryset.filter(created_at__lt=end)
        if data.get("q"):
            queryset = queryset.filter(event_id=data["q"])
        return queryset


# --- subscriptions -----------------------------------------------------------------------------------------


def webhook_subscription_base(*, user: Any) -> QuerySet[WebhookSubscription]:
    _require_admin(user)
    return WebhookSubscription.objects.all()


def webhook_subscription_list(
    *, user: Any, filters: Mapping[str, Any] | None = None
) -> QuerySet[WebhookSubscription]:
    """Subscriptions with their system and their latest delivery's status and time (two subqueries)."""
    latest = WebhookDelivery.objects.filter(subscription=OuterRef("pk")).order_by("-created_at", "-pk")
    qs = (
        webhook_subscription_base(user=user)
        .select_related("system")
        .annotate(
            last_delivery_at=Subquery(latest.values("created_at")[:1]),
            last_delivery_status=Subquery(latest.values("status")[:1]),
        )
    )
    return SubscriptionFilter(filters or {}, user=user).apply(qs)


def webhook_subscription_get(*, user: Any, pk: Any) -> WebhookSubscription:
    try:
        return webhook_subscription_base(user=user).select_related("system").get(pk=int(pk))
    except (TypeError, ValueError, WebhookSubscription.DoesNotExist):
        raise Http404("No such webhook subscription.")


# --- deliveries --------------------------------------------------------------------------------------------


def webhook_delivery_base(*, user: Any) -> QuerySet[WebhookDelivery]:
    _require_admin(user)
    return WebhookDelivery.objects.all()


def webhook_delivery_list(
    *, user: Any, filters: Mapping[str, Any] | None = None
) -> QuerySet[WebhookDelivery]:
    """The delivery log, newest first, rows ready to show (subscription and system joined)."""
    qs = webhook_delivery_base(user=user).select_related("subscription__system").defer("payload")
    return DeliveryFilter(filters or {}, user=user).apply(qs)


def webhook_delivery_get(*, user: Any, pk: Any) -> WebhookDelivery:
    try:
        return (
            webhook_delivery_base(user=user)
            .select_related("subscription__system", "replay_of")
            .get(pk=int(pk))
        )
    except (TypeError, ValueError, WebhookDelivery.DoesNotExist):
        raise Http404("No such webhook delivery.")


def webhook_delivery_attempts(*, user: Any, delivery: WebhookDelivery) -> list[WebhookAttempt]:
    _require_admin(user)
    return list(WebhookAttempt.objects.filter(delivery=delivery).order_by("number"))


def webhook_delivery_replays(*, user: Any, delivery: WebhookDelivery) -> list[WebhookDelivery]:
    """The replays made of ``delivery``, oldest first."""
    return list(
        webhook_delivery_base(user=user)
        .filter(replay_of=delivery)
        .order_by("created_at", "pk")
        .defer("payload")
    )


def webhook_recent_deliveries(*, user: Any, subscription: WebhookSubscription, limit: int = 10) -> list:
    return list(
        webhook_delivery_base(user=user)
        .filter(subscription=subscription)
        .order_by("-created_at", "-pk")
        .defer("payload")[:limit]
    )
