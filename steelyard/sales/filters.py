"""The filter set of the opportunity list, shared by the page, its CSV export and the API.

``apply`` narrows a queryset that ``selectors.opportunities`` already scoped with ``visible_to``.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from steelyard.catalog.models import ProductLine
from steelyard.core.filters import FastSelect, ListFilter
from steelyard.org.models import OrgUnit, User
from steelyard.sales.models import (
    ForecastCategory,
    OpportunityMember,
    OpportunityStatus,
    PlaybookStage,
    RiskFlag,
    TeamRole,
)

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
MINE = "mine"
TEAM_MEMBER = "team"


class MultiValueSelect(FastSelect):
    """A single select on the page that also reads a repeated parameter (``?category=a&category=b``)."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[str]:
        values = data.getlist(name) if hasattr(data, "getlist") else data.get(name)
        if values is None:
            return []
        if not isinstance(values, (list, tuple)):
            values = [values]
        return [str(v) for v in values if v not in (None, "")]

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return name not in data


class OpportunityFilter(ListFilter):
    """Search (number, name, customer), status, stage (by code), product line, owner, org unit (with the
    units below), forecast category, close date range, amount range, risk flag, customer; sortable."""

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    status = forms.ChoiceField(
        label=_("Status"),
        choices=[("", _("All statuses")), *OpportunityStatus.choices],
        required=False,
    )
    stage = forms.ChoiceField(label=_("Stage"), choices=[("", _("All stages"))], required=False)
    product_line = forms.ModelChoiceField(
        label=_("Product line"),
        queryset=ProductLine.objects.none(),
        required=False,
        empty_label=_("All product lines"),
    )
    mine = forms.ChoiceField(
        label=_("Show"),
        choices=[("", _("All I can see")), (MINE, _("I own")), (TEAM_MEMBER, _("I am on the team"))],
        required=False,
    )
    owner = forms.ModelChoiceField(
        label=_("Owner"), queryset=User.objects.none(), required=False, empty_label=_("Any owner")
    )
    unit = forms.ModelChoiceField(
        label=_("Org unit"), queryset=OrgUnit.objects.none(), required=False, empty_label=_("All units")
    )
    category = forms.MultipleChoiceField(
        label=_("Forecast category"),
        choices=[("", _("All categories")), *ForecastCategory.choices],
        required=False,
        widget=MultiValueSelect,
        help_text=_("Repeat the parameter for several (a forecast roll-up drills down this way)."),
    )
    flag = forms.ChoiceField(
        label=_("Risk"), choices=[("", _("Any risk or none")), *RiskFlag.choices], required=False
    )
    close_from = forms.DateField(label=_("Closing from"), required=False, widget=DATE_INPUT)
    close_to = forms.DateField(label=_("Closing to"), required=False, widget=DATE_INPUT)
    closed_from = forms.DateField(label=_("Closed from"), required=False, widget=forms.HiddenInput)
    closed_to = forms.DateField(label=_("Closed to"), required=False, widget=forms.HiddenInput)
    amount_min = forms.DecimalField(
        label=_("Amount from"), required=False, min_value=0, max_digits=16, decimal_places=2
    )
    amount_max = forms.DecimalField(
        label=_("Amount to"), required=False, min_value=0, max_digits=16, decimal_places=2
    )
    customer = forms.IntegerField(
        label=_("Customer no."), required=False, min_value=1, widget=forms.HiddenInput
    )

    field_order = [
        "q",
        "status",
        "stage",
        "product_line",
        "mine",
        "owner",
        "unit",
        "category",
        "flag",
        "close_from",
        "close_to",
        "closed_from",
        "closed_to",
        "amount_min",
        "amount_max",
        "customer",
    ]
    sort_fields = {
        "close": ("expected_close_date",),
        "amount": ("amount",),
        "weighted": ("weighted_amount",),
        "probability": ("probability",),
        "stage": ("stage__order",),
        "number": ("number",),
        "name": ("name",),
        "customer": ("customer__legal_name",),
        "updated": ("updated_at",),
        "activity": ("last_activity_at",),
    }
    default_sort = "close"

    def __init__(self, data: Any = None, *, user: Any = None, **kwargs: Any) -> None:
        super().__init__(data, user=user, **kwargs)
        self.fields["q"].help_text = _("Number, name or customer.")
        self.fields["product_line"].queryset = ProductLine.objects.filter(is_active=True).only(  # type: ignore[attr-defined]
            "id", "name", "code"
        )
        # Stage codes are shared by the playbook versions; one option per code (first name seen).
        stages: dict[str, str] = {}
        for code, name in (
            PlaybookStage.objects.order_by("order", "playbook_id").values_list("code", "name").distinct()
        ):
            stages.setdefault(code, name)
        self.fields["stage"].choices = [("", _("All stages")), *stages.items()]  # type: ignore[attr-defined]
        self.fields["stage"].widget.choices = self.fields["stage"].choices  # type: ignore[attr-defined]
        if user is not None:
            self.fields["owner"].queryset = (  # type: ignore[attr-defined]
                User.objects.visible_to(user)  # type: ignore[attr-defined]
                .filter(is_active=True, is_machine=False)
                .only("id", "username", "display_name", "first_name", "last_name")
                .order_by("display_name", "username")
            )
            self.fields["unit"].queryset = (  # type: ignore[attr-defined]
                OrgUnit.objects.visible_to(user).only("id", "name", "depth", "path").order_by("path")  # type: ignore[attr-defined]
            )
            self.fields["unit"].label_from_instance = lambda u: f"{'— ' * u.depth}{u.name}"  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for first, last in (("close_from", "close_to"), ("closed_from", "closed_to")):
            start, end = data.get(first), data.get(last)
            if start and end and start > end:
                self.add_error(last, _("The end date is before the start date."))
        low, high = data.get("amount_min"), data.get("amount_max")
        if low is not None and high is not None and low > high:
            self.add_error("amount_max", _("The upper amount is below the lower one."))
        return data

    def filter_queryset(self, queryset: QuerySet, data: dict[str, Any]) -> QuerySet:
        q = (data.get("q") or "").strip()
        if q:
            queryset = queryset.filter(
                Q(number__icontains=q)
                | Q(name__icontains=q)
                | Q(customer__legal_name__icontains=q)
                | Q(customer__short_name__icontains=q)
            )
        if data.get("status"):
            queryset = queryset.filter(status=data["status"])
        if data.get("stage"):
            queryset = queryset.filter(stage__code=data["stage"])
        if data.get("product_line"):
            queryset = queryset.filter(product_line=data["product_line"])
        if data.get("mine") == MINE and self.user is not None:
            queryset = queryset.filter(owner=self.user)
        elif data.get("mine") == TEAM_MEMBER and self.user is not None:
            queryset = queryset.filter(
                pk__in=OpportunityMember.objects.filter(user=self.user)
                .exclude(role=TeamRole.OWNER)
                .values("opportunity_id")
            )
        if data.get("owner"):
            queryset = queryset.filter(owner=data["owner"])
        if data.get("unit"):
            queryset = queryset.filter(org_unit__path__startswith=data["unit"].path)
        categories = [c for c in data.get("category") or [] if c]
        if categories:
            # Won and lost are what closing did; the others are open deals' categories.
            cond = Q(status=OpportunityStatus.OPEN, forecast_category__in=categories)
            if ForecastCategory.CLOSED_WON in categories:
                cond |= Q(status=OpportunityStatus.WON)
            if ForecastCategory.CLOSED_LOST in categories:
                cond |= Q(status=OpportunityStatus.LOST)
            queryset = queryset.filter(cond)
        if data.get("flag"):
            queryset = queryset.with_flag(data["flag"])  # type: ignore[attr-defined]
        if data.get("close_from"):
            queryset = queryset.filter(expected_close_date__gte=data["close_from"])
        if data.get("close_to"):
            queryset = queryset.filter(expected_close_date__lte=data["close_to"])
        if data.get("closed_from"):
            queryset = queryset.filter(closed_on__gte=data["closed_from"])
        if data.get("closed_to"):
            queryset = queryset.filter(closed_on__lte=data["closed_to"])
        if data.get("amount_min") is not None:
            queryset = queryset.filter(amount__gte=data["amount_min"])
        if data.get("amount_max") is not None:
            queryset = queryset.filter(amount__lte=data["amount_max"])
        if data.get("customer"):
            queryset = queryset.filter(customer_id=data["customer"])
        return queryset
