"""Forms of the forecast area: the page filters (forecast, accuracy, calibration, adjustments list) and the
manager's adjustment form.

The filters are :class:`~steelyard.core.filters.ListFilter` forms (the shared toolbar, invalid values
ignored field by field, shared by the pages and the API). The org-unit filter is offered to viewers who
see more than their own records; its choices are the units they can see.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from steelyard.catalog.models import ProductLine
from steelyard.core.filters import ListFilter
from steelyard.core.scopes import Scope, user_scope
from steelyard.org.models import OrgUnit
from steelyard.sales.selectors import forecast as sel

MONTHS_CHOICES = [(3, _("3 months")), (6, _("6 months")), (9, _("9 months")), (12, _("12 months"))]
ACCURACY_MONTHS_CHOICES = [
    (3, _("Last 3 months")),
    (6, _("Last 6 months")),
    (12, _("Last 12 months")),
]
CLOSED_CHOICES = [
    (12, _("Closed in the last 12 months")),
    (24, _("Closed in the last 24 months")),
    (36, _("Closed in the last 36 months")),
    (0, _("All closed opportunities")),
]
BASIS_CHOICES = [
    (sel.BASIS_COMMIT, _("Commit forecast (commit + won)")),
    (sel.BASIS_WEIGHTED, _("Weighted forecast")),
]

EARLIEST = dt.date(2000, 1, 1)
LATEST = dt.date(2100, 12, 1)
MAX_AMOUNT = Decimal("99999999999999.99")

ERR_MONTH_RANGE = _("Choose a month between 2000-01 and 2100-12.")
ERR_MONTH = _("Enter a month as YYYY-MM.")


class MonthField(forms.DateField):
    """A month typed as ``YYYY-MM`` (``<input type="month">``); a full date is accepted too. Cleans to the
    first day of the month."""

    widget = forms.DateInput(attrs={"type": "month"}, format="%Y-%m")
    default_error_messages = {"invalid": ERR_MONTH}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("input_formats", ["%Y-%m", "%Y-%m-%d"])
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> dt.date | None:
        day = super().to_python(value)
        if day is None:
            return None
        if not (EARLIEST <= day <= LATEST + dt.timedelta(days=31)):
            raise forms.ValidationError(ERR_MONTH_RANGE, code="range")
        return day.replace(day=1)


ALL_LINES = _("All product lines")


def _line_field(empty_label: Any = ALL_LINES, required: bool = False) -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        label=_("Product line"),
        queryset=ProductLine.objects.none(),
        required=required,
        empty_label=empty_label,
    )


def _setup_unit_field(form: forms.Form, user: Any, name: str = "unit") -> None:
    """Offer the units ``user`` can see (indented by depth); drop the field for own-records viewers."""
    if name not in form.fields:
        return
    if user_scope(user) in (None, Scope.OWN):
        del form.fields[name]
        return
    units = OrgUnit.objects.visible_to(user).only("id", "name", "depth", "path")  # type: ignore[attr-defined]
    field = form.fields[name]
    field.queryset = units.order_by("path")  # type: ignore[attr-defined]
    field.label_from_instance = lambda u: f"{'— ' * u.depth}{u.name}"  # type: ignore[attr-defined]


def _setup_line_field(form: forms.Form, name: str = "product_line") -> None:
    form.fields[name].queryset = ProductLine.objects.filter(is_active=True).order_by("sort_order", "code")  # type: ignore[attr-defined]


def _with_defaults(data: Any, defaults: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = dict(defaults)
    if data:
        for key in data:
            value = data.get(key)
            if value not in (None, ""):
                out[key] = value
    return out


class ForecastFilter(ListFilter):
    """The forecast page: product line, the first month and how many, org unit, the tree's figure."""

    product_line = _line_field()
    start = MonthField(label=_("From month"), required=False)
    months = forms.TypedChoiceField(label=_("Months"), coerce=int, required=False, choices=MONTHS_CHOICES)
    unit: forms.ModelChoiceField = forms.ModelChoiceField(
        label=_("Org unit"), queryset=OrgUnit.objects.none(), required=False, empty_label=_("All I can see")
    )
    measure = forms.ChoiceField(
        label=_("Figure in the tree"), required=False, choices=sel.TREE_MEASURE_CHOICES
    )

    def __init__(self, data: Any = None, *, user: Any = None, **kwargs: Any) -> None:
        today = timezone.localdate()
        defaults = {
            "start": today.strftime("%Y-%m"),
            "months": sel.DEFAULT_MONTHS,
            "measure": sel.DEFAULT_MEASURE,
        }
        super().__init__(_with_defaults(data, defaults), user=user, **kwargs)
        _setup_line_field(self)
        _setup_unit_field(self, user)

    @property
    def is_filtered(self) -> bool:
        return bool(self.valid_data.get("product_line") or self.valid_data.get("unit"))

    def query(self) -> sel.ForecastQuery:
        data = self.valid_data
        start = data.get("start") or timezone.localdate().replace(day=1)
        return sel.ForecastQuery(
            months=sel.month_range(start, data.get("months") or sel.DEFAULT_MONTHS),
            product_line_id=data["product_line"].pk if data.get("product_line") else None,
            unit=data.get("unit"),
        )

    @property
    def tree_measure(self) -> str:
        return self.valid_data.get("measure") or sel.DEFAULT_MEASURE


class AccuracyFilter(ListFilter):
    """The accuracy page: how many closed months, the forecast basis, product line, org unit."""

    months = forms.TypedChoiceField(
        label=_("Period"), coerce=int, required=False, choices=ACCURACY_MONTHS_CHOICES
    )
    basis = forms.ChoiceField(label=_("Forecast"), required=False, choices=BASIS_CHOICES)
    product_line = _line_field()
    unit: forms.ModelChoiceField = forms.ModelChoiceField(
        label=_("Org unit"), queryset=OrgUnit.objects.none(), required=False, empty_label=_("All I can see")
    )

    def __init__(self, data: Any = None, *, user: Any = None, **kwargs: Any) -> None:
        defaults = {"months": sel.DEFAULT_ACCURACY_MONTHS, "basis": sel.BASIS_COMMIT}
        super().__init__(_with_defaults(data, defaults), user=user, **kwargs)
        _setup_line_field(self)
        _setup_unit_field(self, user)

    @property
    def is_filtered(self) -> bool:
        return bool(self.valid_data.get("product_line") or self.valid_data.get("unit"))


class CalibrationFilter(ListFilter):
    """The calibration page: one product line, which closed opportunities, org unit."""

    product_line = _line_field(empty_label=None)
    closed = forms.TypedChoiceField(label=_("Sample"), coerce=int, required=False, choices=CLOSED_CHOICES)
    unit: forms.ModelChoiceField = forms.ModelChoiceField(
        label=_("Org unit"), queryset=OrgUnit.objects.none(), required=False, empty_label=_("All I can see")
    )

    def __init__(self, data: Any = None, *, user: Any = None, **kwargs: Any) -> None:
        defaults: dict[str, Any] = {"closed": sel.DEFAULT_CLOSED_MONTHS}
        first = sel.calibration_default_line()
        if first is not None:
            defaults["product_line"] = first.pk
        super().__init__(_with_defaults(data, defaults), user=user, **kwargs)
        _setup_line_field(self)
        _setup_unit_field(self, user)

    @property
    def is_filtered(self) -> bool:
        return bool(self.valid_data.get("unit"))


class AdjustmentFilter(ListFilter):
    """The adjustments list: whose figure, which month and category."""

    subject_user = forms.ModelChoiceField(
        label=_("Person"), queryset=sel.User.objects.none(), required=False, empty_label=_("Anyone")
    )
    subject_unit: forms.ModelChoiceField = forms.ModelChoiceField(
        label=_("Org unit"), queryset=OrgUnit.objects.none(), required=False, empty_label=_("Any unit")
    )
    month = MonthField(label=_("Month"), required=False)
    category = forms.ChoiceField(
        label=_("Category"), required=False, choices=[("", _("Any category")), *sel.ADJUSTABLE_CHOICES]
    )

    sort_fields = {
        "created": ("created_at",),
        "month": ("month", "category"),
        "amount": ("amount",),
    }
    default_sort = "-created"

    def __init__(self, data: Any = None, *, user: Any = None, **kwargs: Any) -> None:
        super().__init__(data, user=user, **kwargs)
        self.fields["subject_user"].queryset = sel.adjustable_users(user).order_by("display_name", "username")  # type: ignore[attr-defined]
        _setup_unit_field(self, user, "subject_unit")

    def filter_queryset(self, queryset: Any, data: dict[str, Any]) -> Any:
        if data.get("subject_user"):
            queryset = queryset.filter(subject_user=data["subject_user"])
        if data.get("subject_unit"):
            queryset = queryset.filter(subject_unit=data["subject_unit"])
        if data.get("month"):
            queryset = queryset.filter(month=data["month"])
        if data.get("category"):
            queryset = queryset.filter(category=data["category"])
        return queryset


class AdjustmentForm(forms.Form):
    """A manager's figure for one person's or unit's month and forecast category."""

    subject = forms.CharField(widget=forms.HiddenInput)
    month = MonthField(widget=forms.HiddenInput)
    category = forms.ChoiceField(choices=sel.ADJUSTABLE_CHOICES, widget=forms.HiddenInput)
    amount = forms.DecimalField(
        label=_("Your figure"),
        min_value=Decimal("0"),
        max_value=MAX_AMOUNT,
        max_digits=16,
        decimal_places=2,
        widget=forms.NumberInput(
            attrs={"step": "0.01", "min": "0", "inputmode": "decimal", "autofocus": True}
        ),
        help_text=_("The amount you expect, in yuan. The system figure stays beside it."),
    )
    note = forms.CharField(
        label=_("Why"),
        max_length=300,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. two deals slip to next month")}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("amount", "note"):
            self.fields[name].widget.attrs.setdefault("class", "form-control")

    def clean_subject(self) -> sel.Subject:
        subject = sel.parse_subject(self.cleaned_data["subject"])
        if subject is None:
            raise forms.ValidationError(sel.ERR_SUBJECT, code="subject")
        return subject
