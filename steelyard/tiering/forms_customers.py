"""Forms of the tier screens reps and managers use: the customers-by-tier filter, override requests,
entered factor values and the tier review."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from steelyard.core.filters import ListFilter
from steelyard.tiering.models import TierModel
from steelyard.tiering.services.overrides import MAX_REASON, POTENTIAL_MAX, STRATEGIC_FIT_MAX, max_expiry

SCOPE_CHOICES = [("", _("All I can see")), ("mine", _("Mine"))]
STATE_CHOICES = [
    ("", _("Any")),
    ("pending", _("Moving to another tier")),
    ("override", _("Override in force")),
    ("near", _("Near the next tier up")),
]


class TierCustomerFilter(ListFilter):
    """Search, tier, mine / all, state (moving, override, near the next tier); sorted by tier by default."""

    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        help_text=_("Name, short name, pinyin, pinyin initials or credit code."),
    )
    tier = forms.ChoiceField(label=_("Tier"), required=False, choices=[])
    scope = forms.ChoiceField(label=_("Show"), required=False, choices=SCOPE_CHOICES)
    state = forms.ChoiceField(label=_("State"), required=False, choices=STATE_CHOICES)
    model = forms.CharField(required=False, widget=forms.HiddenInput)

    sort_fields = {
        "tier": ("tier_rank", "-score"),
        "score": ("score",),
        "name": ("customer__legal_name",),
        "since": ("since",),
    }
    default_sort = "tier"

    def __init__(
        self, data: Any = None, *, user: Any = None, model: TierModel | None = None, **kw: Any
    ) -> None:
        super().__init__(data, user=user, **kw)
        self.model = model
        tiers = sorted(model.tiers.all(), key=lambda t: t.rank) if model is not None else []
        from steelyard.tiering.selectors.customers import tier_label

        self.fields["tier"].choices = [("", _("All tiers")), *[(t.code, tier_label(t)) for t in tiers]]

    def order(self, queryset: QuerySet, sort: str) -> QuerySet:
        key = sort.lstrip("-")
        if key not in self.sort_fields:
            return queryset
        desc = sort.startswith("-")
        ordering = []
        for f in self.sort_fields[key]:
            if desc:
                f = f[1:] if f.startswith("-") else f"-{f}"
            ordering.append(f)
        return queryset.order_by(*ordering, "-pk" if desc else "pk")

    def filter_queryset(self, queryset: QuerySet, data: dict[str, Any]) -> QuerySet:
        from steelyard.customers.models import Customer
        from steelyard.customers.selectors.customers import search_q
        from steelyard.tiering.selectors.customers import near_threshold_q

        if data.get("q"):
            queryset = queryset.filter(customer__in=Customer.objects.filter(search_q(data["q"])).values("pk"))
        if data.get("tier"):
            queryset = queryset.filter(eff=data["tier"])
        if data.get("scope") == "mine" and self.user is not None:
            queryset = queryset.filter(customer__owner=self.user)
        state = data.get("state")
        if state == "pending":
            queryset = queryset.exclude(pending_tier="")
        elif state == "override":
            queryset = queryset.exclude(override_tier="").filter(override_until__gte=timezone.localdate())
        elif state == "near" and self.model is not None:
            cond, _gap = near_threshold_q(self.model)
            queryset = queryset.filter(cond)
        return queryset


class OverrideRequestForm(forms.Form):
    """Ask for a customer to be put in another tier of one model, with a reason and an end date."""

    tier = forms.ChoiceField(label=_("Tier"), choices=[])
    reason = forms.CharField(
        label=_("Reason"),
        max_length=MAX_REASON,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Why the assessed tier does not fit this customer; the approver reads it."),
    )
    expires_on = forms.DateField(
        label=_("In force until"),
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("At most one year from today; the assessed tier comes back after this date."),
    )

    def __init__(self, *args: Any, model: TierModel, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from steelyard.tiering.selectors.customers import tier_label

        tiers = sorted(model.tiers.all(), key=lambda t: t.rank)
        self.fields["tier"].choices = [("", "—"), *[(t.code, tier_label(t)) for t in tiers]]
        self.fields["expires_on"].widget.attrs["max"] = max_expiry().isoformat()
        for name, f in self.fields.items():
            f.widget.attrs.setdefault("class", "form-select" if name == "tier" else "form-control")

    def clean_expires_on(self) -> Any:
        from steelyard.tiering.services.overrides import ERR_EXPIRY_FAR, ERR_EXPIRY_PAST

        value = self.cleaned_data["expires_on"]
        if value <= timezone.localdate():
            raise forms.ValidationError(ERR_EXPIRY_PAST)
        if value > max_expiry():
            raise forms.ValidationError(ERR_EXPIRY_FAR, params={"date": max_expiry().isoformat()})
        return value


class EnteredValuesForm(forms.Form):
    """The factors a person enters: estimated annual demand and strategic fit."""

    potential = forms.DecimalField(
        label=_("Potential (estimated annual demand, yuan)"),
        required=False,
        min_value=Decimal("0"),
        max_value=POTENTIAL_MAX,
        decimal_places=2,
        max_digits=16,
        help_text=_("What the customer could buy from us in a year. Leave empty if unknown."),
    )
    strategic_fit = forms.DecimalField(
        label=_("Strategic fit (0–5)"),
        required=False,
        min_value=Decimal("0"),
        max_value=STRATEGIC_FIT_MAX,
        decimal_places=2,
        max_digits=4,
        help_text=_("0: none; 5: the customer is core to our strategy (new market, reference site…)."),
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=300)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for f in self.fields.values():
            f.widget.attrs.setdefault("class", "form-control form-control-sm")


class ReviewForm(forms.Form):
    """A manager's conclusion of a tier review; the data reviewed is saved with it."""

    model = forms.CharField(widget=forms.HiddenInput)
    period = forms.RegexField(regex=r"^\d{4}-Q[1-4]$", widget=forms.HiddenInput)
    conclusion = forms.CharField(
        label=_("Conclusion"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4, "class": "form-control"}),
        help_text=_(
            "What you conclude from these figures: tiers to adjust, customers to move, menu changes."
        ),
    )
