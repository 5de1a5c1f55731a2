"""The filter sets of the order-to-cash lists, shared by the pages and the API.

Each ``apply`` narrows a queryset that its selector already scoped with ``visible_to``.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from steelyard.catalog.models import ProductLine
from steelyard.core.filters import ListFilter
from steelyard.orders.models import (
    OPEN_STATUSES,
    ContractStatus,
    InvoiceStatus,
    OrderLine,
    OrderStatus,
)

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
YES_CHOICES = [("", _("Any")), ("1", _("Yes"))]


def _date_range(queryset: QuerySet, field: str, data: dict[str, Any]) -> QuerySet:
    if data.get("date_from"):
        queryset = queryset.filter(**{f"{field}__gte": data["date_from"]})
    if data.get("date_to"):
        queryset = queryset.filter(**{f"{field}__lte": data["date_to"]})
    return queryset


def _customer_name_q(q: str, prefix: str = "customer__") -> Q:
    return Q(**{f"{prefix}legal_name__icontains": q}) | Q(**{f"{prefix}short_name__icontains": q})


class _O2CFilter(ListFilter):
    """Common fields: search, one customer (by number), a date range."""

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    customer = forms.IntegerField(
        label=_("Customer no."), required=False, min_value=1, widget=forms.HiddenInput
    )
    date_from = forms.DateField(label=_("From"), required=False, widget=DATE_INPUT)
    date_to = forms.DateField(label=_("To"), required=False, widget=DATE_INPUT)

    date_field = ""

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end date is before the start date."))
        return data

    def filter_queryset(self, queryset: QuerySet, data: dict[str, Any]) -> QuerySet:
        if data.get("customer"):
            queryset = queryset.filter(customer_id=data["customer"])
        if self.date_field:
            queryset = _date_range(queryset, self.date_field, data)
        return queryset


class OrderFilter(_O2CFilter):
    """Search (order number, customer name), status, open only, customer, product line, ordered date range."""

    status = forms.ChoiceField(
        label=_("Status"), choices=[("", _("All statuses")), *OrderStatus.choices], required=False
    )
    open = forms.ChoiceField(
        label=_("Open only"), choices=[("", _("Open and closed")), ("1", _("Open only"))], required=False
    )
    product_line = forms.ModelChoiceField(
        label=_("Product line"),
        queryset=ProductLine.objects.none(),
        required=False,
        empty_label=_("All product lines"),
    )

    field_order = ["q", "status", "open", "product_line", "date_from", "date_to", "customer"]
    sort_fields = {
        "ordered": ("ordered_on",),
        "number": ("number",),
        "amount": ("amount",),
        "status": ("status_at",),
        "customer": ("customer__legal_name",),
    }
    default_sort = "-ordered"
    date_field = "ordered_on"

    def __init__(self, data: Any = None, *, user: Any = None, **kwargs: Any) -> None:
        super().__init__(data, user=user, **kwargs)
        self.fields["q"].help_text = _("Order number or customer name.")
        lines = ProductLine.objects.filter(is_active=True).only("id", "name", "code")
        self.fields["product_line"].queryset = lines  # type: ignore[attr-defined]

    def filter_queryset(self, queryset: QuerySet, data: dict[str, Any]) -> QuerySet:
        queryset = super().filter_queryset(queryset, data)
        q = (data.get("q") or "").strip()
        if q:
            queryset = queryset.filter(Q(number__icontains=q) | _customer_name_q(q))
        if data.get("status"):
            queryset = queryset.filter(status=data["status"])
        if data.get("open") == "1":
            queryset = queryset.filter(status__in=OPEN_STATUSES)
        if data.get("product_line"):
            lines = OrderLine.objects.filter(product__product_line=data["product_line"]).values("order_id")
            queryset = queryset.filter(pk__in=lines)
        return queryset


class ContractFilter(_O2CFilter):
    status = forms.ChoiceField(
        label=_("Status"), choices=[("", _("All statuses")), *ContractStatus.choices], required=False
    )

    field_order = ["q", "status", "date_from", "date_to", "customer"]
    sort_fields = {"signed": ("signed_on",), "number": ("number",), "amount": ("amount",)}
    default_sort = "-signed"
    date_field = "signed_on"

    def __init__(self, data: Any = None, *, user: Any = None, **kwargs: Any) -> None:
        super().__init__(data, user=user, **kwargs)
        self.fields["q"].help_text = _("Contract number, title or customer name.")

    def filter_queryset(self, queryset: QuerySet, data: dict[str, Any]) -> QuerySet:
        queryset = super().filter_queryset(queryset, data)
        q = (data.get("q") or "").strip()
        if q:
            queryset = queryset.filter(Q(number__icontains=q) | Q(title__icontains=q) | _customer_name_q(q))
        if data.get("status"):
            queryset = queryset.filter(status=data["status"])
        return queryset


class ShipmentFilter(_O2CFilter):
    order_id = forms.IntegerField(label=_("Order"), required=False, min_value=1, widget=forms.HiddenInput)

    field_order = ["q", "date_from", "date_to", "customer", "order_id"]
    sort_fields = {"shipped": ("shipped_on",), "number": ("number",), "amount": ("amount",)}
    default_sort = "-shipped"
    date_field = "shipped_on"

    def __init__(self, data: Any = None, *, user: Any = None, **kwargs: Any) -> None:
        super().__init__(data, user=user, **kwargs)
        self.fields["q"].help_text = _("Shipment, order or tracking number, or customer name.")

    def filter_queryset(self, queryset: QuerySet, data: dict[str, Any]) -> QuerySet:
        queryset = super().filter_queryset(queryset, data)
        q = (data.get("q") or "").strip()
        if q:
            queryset = queryset.filter(
                Q(number__icontains=q)
                | Q(order__number__icontains=q)
                | Q(tracking_no__icontains=q)
                | _customer_name_q(q)
            )
        if data.get("order_id"):
            queryset = queryset.filter(order_id=data["order_id"])
        return queryset


class InvoiceFilter(_O2CFilter):
    """Also: overdue (past due and not fully paid) and unpaid (not fully paid); rows carry ``paid``."""

    status = forms.ChoiceField(
        label=_("Status"), choices=[("", _("All statuses")), *InvoiceStatus.choices], required=False
    )
    overdue = forms.ChoiceField(label=_("Overdue"), choices=YES_CHOICES, required=False)
    unpaid = forms.ChoiceField(label=_("Not fully paid"), choices=YES_CHOICES, required=False)

    field_order = ["q", "status", "overdue", "unpaid", "date_from", "date_to", "customer"]
    sort_fields = {
        "issued": ("issued_on",),
        "due": ("due_on",),
        "number": ("number",),
        "amount": ("amount",),
    }
    default_sort = "-issued"
    date_field = "issued_on"

    def __init__(self, data: Any = None, *, user: Any = None, **kwargs: Any) -> None:
        super().__init__(data, user=user, **kwargs)
        self.fields["q"].help_text = _("Invoice or order number, or customer name.")

    def filter_queryset(self, queryset: QuerySet, data: dict[str, Any]) -> QuerySet:
        queryset = super().filter_queryset(queryset, data)
        q = (data.get("q") or "").strip()
        if q:
            queryset = queryset.filter(
                Q(number__icontains=q) | Q(order__number__icontains=q) | _customer_name_q(q)
            )
        if data.get("status"):
            queryset = queryset.filter(status=data["status"])
        if data.get("overdue") == "1" or data.get("unpaid") == "1":
            # ``paid`` is annotated by the selector; "not fully paid" only means something for issued ones.
            queryset = queryset.filter(status=InvoiceStatus.ISSUED, paid__lt=F("amount"))
        if data.get("overdue") == "1":
            queryset = queryset.filter(due_on__lt=timezone.localdate())
        return queryset


class PaymentFilter(_O2CFilter):
    method = forms.CharField(label=_("Method"), required=False, max_length=30)

    field_order = ["q", "method", "date_from", "date_to", "customer"]
    sort_fields = {"received": ("received_on",), "number": ("number",), "amount": ("amount",)}
    default_sort = "-received"
    date_field = "received_on"

    def __init__(self, data: Any = None, *, user: Any = None, **kwargs: Any) -> None:
        super().__init__(data, user=user, **kwargs)
        self.fields["q"].help_text = _("Receipt or invoice number, or customer name.")

    def filter_queryset(self, queryset: QuerySet, data: dict[str, Any]) -> QuerySet:
        queryset = super().filter_queryset(queryset, data)
        q = (data.get("q") or "").strip()
        if q:
            queryset = queryset.filter(
                Q(number__icontains=q) | Q(invoice__number__icontains=q) | _customer_name_q(q)
            )
        if data.get("method"):
            queryset = queryset.filter(method__iexact=data["method"].strip())
        return queryset
