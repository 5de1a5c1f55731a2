"""Reads for customer messages: endpoints, the message log (one filter set for page and API),
due messages for the sender, message templates, and the public order-status page.

Everything a person sees is scoped through the customer (``visible_to``); the status page is
reached only through a signed token (``services.messages.order_status_token_read``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from steelyard.core.filters import ListFilter
from steelyard.core.scopes import VIEW
from steelyard.customers.models import Customer
from steelyard.integrations.models import (
    ChannelKind,
    DeliveryStatus,
    MessageTemplate,
    NotificationEndpoint,
    OutboundMessage,
)
from steelyard.orders.models import OrderLine, OrderStatusEvent, SalesOrder, Shipment, ShipmentLine

DUE_BATCH = 500


# --- endpoints ------------------------------------------------------------------------------------


def endpoint_list(*, user: Any, customer: Customer) -> QuerySet[NotificationEndpoint]:
    """The customer's endpoints the user may see, active first."""
    return (
        NotificationEndpoint.objects.visible_to(user)
        .filter(customer=customer)
        .select_related("contact")
        .order_by("-is_active", "channel", "pk")
    )


def endpoint_get(*, user: Any, pk: Any, action: str = VIEW) -> NotificationEndpoint:
    """One endpoint the user may see (or change); 404 otherwise."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404("No such endpoint.") from None
    endpoint = (
        NotificationEndpoint.objects.visible_to(user, action)
        .select_related("customer", "contact")
        .filter(pk=pk)
        .first()
    )
    if endpoint is None:
        raise Http404("No such endpoint.")
    return endpoint


# --- the message log ----------------------------------------------------------------------------


class MessageFilter(ListFilter):
    """Search (customer, subject, address), customer, channel, status, event; newest first."""

    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        help_text=_("Customer name, subject or address."),
    )
    customer = forms.IntegerField(label=_("Customer"), required=False, min_value=1, widget=forms.HiddenInput)
    channel = forms.ChoiceField(
        label=_("Channel"), choices=[("", _("All channels")), *ChannelKind.choices], required=False
    )
    status = forms.ChoiceField(
        label=_("Status"), choices=[("", _("All statuses")), *DeliveryStatus.choices], required=False
    )
    event = forms.CharField(label=_("Event"), required=False, max_length=60, widget=forms.HiddenInput)

    sort_fields = {"created": ("created_at",), "sent": ("sent_at",), "attempts": ("attempts",)}
    default_sort = "-created"

    def filter_queryset(self, queryset: QuerySet, data: dict[str, Any]) -> QuerySet:
        if data.get("q"):
            q = data["q"]
            queryset = queryset.filter(
                Q(endpoint__customer__legal_name__icontains=q)
                | Q(title__icontains=q)
                | Q(endpoint__address__icontains=q)
            )
        if data.get("customer"):
            queryset = queryset.filter(endpoint__customer_id=data["customer"])
        if data.get("channel"):
            queryset = queryset.filter(endpoint__channel=data["channel"])
        if data.get("status"):
            queryset = queryset.filter(status=data["status"])
        if data.get("event"):
            queryset = queryset.filter(event=data["event"])
        return queryset


def message_base(*, user: Any) -> QuerySet[OutboundMessage]:
    return OutboundMessage.objects.visible_to(user)


def message_list(*, user: Any, filters: Mapping[str, Any] | None = None) -> QuerySet[OutboundMessage]:
    """The message log the user may see, filtered and sorted, rows ready to show."""
    qs = message_base(user=user).select_related("endpoint__customer", "endpoint__contact")
    return MessageFilter(filters or {}, user=user).apply(qs)


def message_get(*, user: Any, pk: Any) -> OutboundMessage:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404("No such message.") from None
    message = (
        message_base(user=user)
        .select_related("endpoint__customer", "endpoint__contact")
        .filter(pk=pk)
        .first()
    )
    if message is None:
        raise Http404("No such message.")
    return message


def messages_recent_for_customer(*, user: Any, customer: Customer, limit: int = 5) -> list[OutboundMessage]:
    return list(
        message_base(user=user)
        .filter(endpoint__customer=customer)
        .select_related("endpoint")
        .order_by("-created_at", "-pk")[:limit]
    )


def messages_due(*, now: dt.datetime | None = None, limit: int = DUE_BATCH) -> list[int]:
    """Ids of messages waiting for a first try or a retry whose time has come (for the sender)."""
    now = now or timezone.now()
    return list(
        OutboundMessage.objects.filter(
            status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING], next_attempt_at__lte=now
        )
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


# --- templates ----------------------------------------------------------------------------------


@dataclass
class TemplateRow:
    event: str
    event_label: Any
    language: str
    language_label: str
    overrides: list[MessageTemplate] = field(default_factory=list)


def template_rows() -> list[TemplateRow]:
    """Each event × language, with the administrator's overrides (all channels, then per channel)."""
    from steelyard.integrations.services.messages import LANGUAGE_CHOICES, template_events

    by_key: dict[tuple[str, str], list[MessageTemplate]] = {}
    for t in MessageTemplate.objects.order_by("event", "language", "channel"):
        by_key.setdefault((t.event, t.language), []).append(t)
    return [
        TemplateRow(event, label, lang, lang_label, by_key.get((event, lang), []))
        for event, label in template_events()
        for lang, lang_label in LANGUAGE_CHOICES
    ]


def template_get(*, event: str, language: str, channel: str = "") -> MessageTemplate | None:
    return MessageTemplate.objects.filter(event=event, language=language, channel=channel).first()


# --- the public order-status page -------------------------------------------------------------


@dataclass
class StatusPage:
    order: SalesOrder
    customer_name: str
    lines: list[OrderLine]
    events: list[OrderStatusEvent]
    shipments: list[Shipment]


def order_for_status_page(*, pk: int) -> SalesOrder:
    """The order a valid status token names; 404 when it is gone."""
    order = SalesOrder.objects.select_related("customer").filter(pk=pk).first()
    if order is None:
        raise Http404("No such order.")
    return order


def status_page(*, order: SalesOrder) -> StatusPage:
    """What a customer may see of its order: products and quantities, the timeline, shipments.

    Amounts, prices, notes and who recorded a step are not read at all.
    """
    lines = list(
        OrderLine.objects.filter(order=order)
        .select_related("product")
        .only("line_no", "description", "quantity", "product__name", "product__code")
        .order_by("line_no")
    )
    events = list(
        OrderStatusEvent.objects.filter(order=order).only("status", "at", "order_id").order_by("at", "pk")
    )
    shipments = list(
        Shipment.objects.filter(order=order)
        .only("number", "shipped_on", "delivered_on", "carrier", "tracking_no", "order_id")
        .order_by("shipped_on", "pk")
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=ShipmentLine.objects.select_related("order_line__product").only(
                    "quantity", "shipment_id", "order_line__line_no", "order_line__product__name"
                ),
            )
        )
    )
    return StatusPage(order, order.customer.legal_name, lines, events, shipments)
