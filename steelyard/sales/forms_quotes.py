"""Forms of the quotes area: the quotes and framework agreements list filters (shared by the pages, the
export and the API), a new quote, a draft's header and lines, the decisions (submit, accept, reject),
an agreement and its planned quantities. The services validate again; these forms explain on the page."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from steelyard.core.filters import FastSelect, ListFilter
from steelyard.core.models import ApprovalStatus
from steelyard.sales.models import AgreementPeriod, AgreementStatus, CloseReason, QuoteStatus

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
LANGUAGE_CHOICES = [("zh-hans", _("Chinese")), ("en", _("English"))]

OVER_DISCOUNT = "discount"
OVER_CREDIT = "credit"
PENDING_ANY = "1"
PENDING_MINE = "me"


def _style(form: forms.Form) -> None:
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.CheckboxInput):
            widget.attrs.setdefault("class", "form-check-input")
        elif isinstance(widget, forms.Select):
            widget.attrs.setdefault("class", "form-select")
        elif not isinstance(widget, forms.HiddenInput):
            widget.attrs.setdefault("class", "form-control")


def apply_service_error(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form: per field when it names fields, else on top."""
    if hasattr(error, "error_dict"):
        for name, errs in error.error_dict.items():
            form.add_error(name if name in form.fields else None, errs)
    else:
        form.add_error(None, error)


def _customer_name_q(q: str) -> Q:
    return Q(customer__legal_name__icontains=q) | Q(customer__short_name__icontains=q)


class _DatedFilter(ListFilter):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    customer = forms.IntegerField(
        label=_("Customer no."), required=False, min_value=1, widget=forms.HiddenInput
    )
    date_from = forms.DateField(label=_("From"), required=False, widget=DATE_INPUT)
    date_to = forms.DateField(label=_("To"), required=False, widget=DATE_INPUT)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end date is before the start date."))
        return data


# --- quotes ----------------------------------------------------------------------------------------------


class QuoteFilter(_DatedFilter):
    """Search (number, customer, opportunity), status, over the limit (discount or credit), waiting for
    approval (anyone's or mine), customer, date made. Superseded revisions are left out unless asked for."""

    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All current")), *QuoteStatus.choices]
    )
    over_limit = forms.ChoiceField(
        label=_("Over the limit"),
        required=False,
        choices=[
            ("", _("Any")),
            (OVER_DISCOUNT, _("Discount above the tier limit")),
            (OVER_CREDIT, _("Credit exposure over the limit")),
        ],
    )
    pending = forms.ChoiceField(
        label=_("Approval"),
        required=False,
        choices=[
            ("", _("Any")),
            (PENDING_ANY, _("Awaiting approval")),
            (PENDING_MINE, _("Awaiting my approval")),
        ],
    )

    field_order = ["q", "status", "over_limit", "pending", "date_from", "date_to", "customer"]
    sort_fields = {
        "created": ("created_at",),
        "number": ("number", "revision"),
        "total": ("net_total",),
        "valid": ("valid_until",),
        "customer": ("customer__legal_name",),
        "discount": ("discount_pct",),
    }
    default_sort = "-created"

    def __init__(self, data: Any = None, *, user: Any = None, **kwargs: Any) -> None:
        super().__init__(data, user=user, **kwargs)
        self.fields["q"].help_text = _("Quote number, customer or opportunity.")
        self.fields["date_from"].label = _("Made from")

    def filter_queryset(self, queryset: QuerySet, data: dict[str, Any]) -> QuerySet:
        if data.get("customer"):
            queryset = queryset.filter(customer_id=data["customer"])
        if data.get("date_from"):
            queryset = queryset.filter(created_at__date__gte=data["date_from"])
        if data.get("date_to"):
            queryset = queryset.filter(created_at__date__lte=data["date_to"])
        q = (data.get("q") or "").strip()
        if q:
            queryset = queryset.filter(
                Q(number__icontains=q) | _customer_name_q(q) | Q(opportunity__name__icontains=q)
            )
        if data.get("status"):
            queryset = queryset.filter(status=data["status"])
        else:
            queryset = queryset.exclude(status=QuoteStatus.SUPERSEDED)
        if data.get("over_limit") == OVER_DISCOUNT:
            queryset = queryset.filter(discount_pct__gt=F("max_discount_pct"))
        elif data.get("over_limit") == OVER_CREDIT:
            queryset = queryset.filter(credit__over=True)
        if data.get("pending") == PENDING_ANY:
            queryset = queryset.filter(status=QuoteStatus.PENDING)
        elif data.get("pending") == PENDING_MINE and self.user is not None:
            queryset = queryset.filter(
                status=QuoteStatus.PENDING,
                approval__status=ApprovalStatus.PENDING,
                approval__steps__approver_id=self.user.pk,
                approval__steps__order=F("approval__current_step"),
            )
        return queryset


class QuoteHeaderForm(forms.Form):
    """A quote's header: validity, language of the PDF, payment and delivery terms, notes."""

    valid_until = forms.DateField(label=_("Valid until"), widget=DATE_INPUT)
    language = forms.ChoiceField(
        label=_("Language of the quote"),
        choices=LANGUAGE_CHOICES,
        help_text=_("The language the PDF sent to the customer is written in."),
    )
    payment_terms_days = forms.IntegerField(
        label=_("Payment terms (days)"),
        min_value=0,
        max_value=365,
        required=False,
        help_text=_("Empty: the customer's terms (its own, else its tier's)."),
    )
    delivery_terms = forms.CharField(
        label=_("Delivery terms"),
        max_length=200,
        required=False,
        help_text=_("E.g. delivered to site, 90 days after the down payment."),
    )
    notes = forms.CharField(
        label=_("Notes"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _style(self)

    def clean_valid_until(self) -> dt.date:
        day = self.cleaned_data["valid_until"]
        if day < timezone.localdate():
            raise ValidationError(_("The validity date cannot be in the past."))
        return day


class QuoteCreateForm(QuoteHeaderForm):
    opportunity = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["valid_until"].initial = timezone.localdate() + dt.timedelta(days=30)
        self.fields["language"].initial = "zh-hans"


class SubmitForm(forms.Form):
    reason = forms.CharField(
        label=_("Why this discount?"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("For the approvers, when the discount is above the tier limit."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _style(self)


class AcceptForm(forms.Form):
    signed_on = forms.DateField(label=_("Signed on"), widget=DATE_INPUT)
    reason = forms.ChoiceField(
        label=_("Why did we win?"), choices=[("", "—"), *CloseReason.choices], required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {}).setdefault("signed_on", timezone.localdate())
        super().__init__(*args, **kwargs)
        _style(self)

    def clean_signed_on(self) -> dt.date:
        day = self.cleaned_data["signed_on"]
        if day > timezone.localdate():
            raise ValidationError(_("The signing date cannot be in the future."))
        return day


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=_("Why did the customer turn it down?"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _style(self)


# --- the lines editor --------------------------------------------------------------------------------------

LINE_FIELDS = ("product", "description", "quantity", "unit", "list_price", "discount_pct")
MAX_FORM_LINES = 200
_LINE_ERROR = re.compile(r"^lines\.(\d+)\.(\w+)$")


def is_blank_line(row: Mapping[str, Any]) -> bool:
    """A row without a product, a description or a price: an added row not filled in yet."""
    return not (row.get("product") or row.get("description") or row.get("list_price"))


def lines_from_post(
    data: Mapping[str, Any], *, products: Mapping[int, Any] | None = None, keep_blank: bool = False
) -> list[dict[str, Any]]:
    """The editor's rows (``line-<i>-<field>``) as the service's line dicts, in order; rows marked
    ``remove`` are dropped, and so are rows without a product, a description or a price unless
    ``keep_blank`` (a preview keeps the row the rep is about to fill in). When a row's product changed (``product_was``),
    its description, unit and list price follow the new product."""
    try:
        count = min(int(data.get("line_count", 0)), MAX_FORM_LINES)
    except (TypeError, ValueError):
        count = 0
    out = []
    for i in range(count):
        row = {f: str(data.get(f"line-{i}-{f}", "") or "").strip() for f in LINE_FIELDS}
        if data.get(f"line-{i}-remove"):
            continue
        if is_blank_line(row) and not keep_blank:
            continue  # an added row left empty (its quantity and discount are prefilled)
        was = str(data.get(f"line-{i}-product_was", "") or "")
        if products is not None and row["product"] and row["product"] != was:
            try:
                product = products.get(int(row["product"]))
            except ValueError:
                product = None
            if product is not None:
                row["description"] = product.name
                row["unit"] = product.unit
                row["list_price"] = str(product.list_price)
        out.append(row)
    return out


def line_errors(error: ValidationError) -> tuple[dict[int, list[str]], list[str]]:
    """A service's line errors split into ``{row index: [messages]}`` and the rest."""
    rows: dict[int, list[str]] = {}
    other: list[str] = []
    if hasattr(error, "error_dict"):
        for key, errs in error.message_dict.items():
            m = _LINE_ERROR.match(key)
            if m:
                rows.setdefault(int(m.group(1)), []).extend(errs)
            else:
                other.extend(errs)
    else:
        other.extend(error.messages)
    return rows, other


def decimal_or_none(value: Any) -> Decimal | None:
    try:
        d = Decimal(str(value).replace(",", ""))
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


# --- framework agreements --------------------------------------------------------------------------------


class AgreementFilter(_DatedFilter):
    """Search (number, title, customer), status, period kind, customer, in force between two dates."""

    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All statuses")), *AgreementStatus.choices]
    )
    period = forms.ChoiceField(
        label=_("Planned per"),
        required=False,
        choices=[("", _("Month or quarter")), *AgreementPeriod.choices],
    )

    field_order = ["q", "status", "period", "date_from", "date_to", "customer"]
    sort_fields = {
        "starts": ("starts_on",),
        "ends": ("ends_on",),
        "number": ("number",),
        "customer": ("customer__legal_name",),
    }
    default_sort = "-starts"

    def __init__(self, data: Any = None, *, user: Any = None, **kwargs: Any) -> None:
        super().__init__(data, user=user, **kwargs)
        self.fields["q"].help_text = _("Agreement number, title or customer.")
        self.fields["date_from"].label = _("In force from")
        self.fields["date_to"].label = _("In force to")

    def filter_queryset(self, queryset: QuerySet, data: dict[str, Any]) -> QuerySet:
        if data.get("customer"):
            queryset = queryset.filter(customer_id=data["customer"])
        if data.get("date_from"):
            queryset = queryset.filter(ends_on__gte=data["date_from"])
        if data.get("date_to"):
            queryset = queryset.filter(starts_on__lte=data["date_to"])
        q = (data.get("q") or "").strip()
        if q:
            queryset = queryset.filter(Q(number__icontains=q) | Q(title__icontains=q) | _customer_name_q(q))
        if data.get("status"):
            queryset = queryset.filter(status=data["status"])
        if data.get("period"):
            queryset = queryset.filter(period=data["period"])
        return queryset


class AgreementForm(forms.Form):
    """A framework agreement's terms (the customer is chosen before, on the customer or in the URL)."""

    title = forms.CharField(label=_("Title"), max_length=200)
    number = forms.CharField(
        label=_("Agreement number"),
        max_length=40,
        required=False,
        help_text=_("Empty: numbered automatically (FA-year-sequence)."),
    )
    period = forms.ChoiceField(
        label=_("Plan quantities per"),
        choices=AgreementPeriod.choices,
        help_text=_("Months or quarters: the periods planned quantities and actual orders are compared in."),
    )
    starts_on = forms.DateField(label=_("Starts on"), widget=DATE_INPUT)
    ends_on = forms.DateField(label=_("Ends on"), widget=DATE_INPUT)
    notes = forms.CharField(
        label=_("Notes"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _style(self)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("starts_on"), data.get("ends_on")
        if start and end and end < start:
            self.add_error("ends_on", _("The agreement must end on or after its start."))
        return data


class AgreementCreateForm(AgreementForm):
    customer = forms.IntegerField(widget=forms.HiddenInput)


class PlanLineForm(forms.Form):
    """Add a planned quantity: a product, a period (any day in it) and the quantity."""

    product = forms.ModelChoiceField(
        label=_("Product"),
        queryset=None,
        empty_label="—",
        widget=FastSelect,  # type: ignore[arg-type]
    )
    period_start = forms.DateField(
        label=_("Period"), widget=DATE_INPUT, help_text=_("Any day of the month or quarter.")
    )
    planned_quantity = forms.DecimalField(
        label=_("Planned quantity"), min_value=0, max_digits=12, decimal_places=2
    )

    def __init__(self, *args: Any, products: QuerySet | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from steelyard.catalog.models import Product

        self.fields["product"].queryset = (
            products
            if products is not None
            else Product.objects.filter(  # type: ignore[attr-defined]
                is_active=True
            )
        )
        _style(self)
