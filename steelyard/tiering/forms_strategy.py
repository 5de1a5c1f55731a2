"""Forms of the strategy menu screens: the versions filter, a new version, a draft's details, a rule,
activation. The services validate again (the API uses them directly); these forms explain on the page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from steelyard.catalog.models import ProductLine
from steelyard.core.filters import ListFilter
from steelyard.org.models import Role
from steelyard.tiering.models import MenuStatus, Seniority, StrategyMenu
from steelyard.tiering.selectors.strategy import (
    STATE_DRAFT,
    STATE_ENDED,
    STATE_IN_FORCE,
    STATE_NEVER,
    STATE_SCHEDULED,
    tier_catalogue,
)

UNTIERED = "__none__"  # the choice value of "customers without a tier" (an empty value means "not chosen")
OTHER = "__other__"

STATE_LABELS = {
    STATE_DRAFT: _("Draft"),
    STATE_SCHEDULED: _("Scheduled"),
    STATE_IN_FORCE: _("In force"),
    STATE_ENDED: _("Retired"),
    STATE_NEVER: _("Replaced before it started"),
}
STATE_BADGES = {
    STATE_DRAFT: "text-bg-warning",
    STATE_SCHEDULED: "text-bg-info",
    STATE_IN_FORCE: "text-bg-success",
    STATE_ENDED: "text-bg-secondary",
    STATE_NEVER: "text-bg-light border",
}


def _style(form: forms.Form) -> None:
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.CheckboxInput):
            widget.attrs.setdefault("class", "form-check-input")
        elif isinstance(widget, forms.Select):
            widget.attrs.setdefault("class", "form-select")
        elif not isinstance(widget, forms.HiddenInput):
            widget.attrs.setdefault("class", "form-control")


class MenuFilter(ListFilter):
    """Filters of the versions list, shared by the page and the API."""

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All statuses")), *MenuStatus.choices]
    )

    sort_fields = {"version": ("version",), "from": ("effective_from",), "name": ("name",)}
    default_sort = "-version"

    def filter_queryset(self, queryset: QuerySet, data: dict[str, Any]) -> QuerySet:
        if data.get("q"):
            q = data["q"]
            cond = Q(name__icontains=q) | Q(notes__icontains=q)
            if q.lstrip("vV").isdigit():
                cond |= Q(version=int(q.lstrip("vV")))
            queryset = queryset.filter(cond)
        if data.get("status"):
            queryset = queryset.filter(status=data["status"])
        return queryset


class MenuCreateForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        required=False,
        help_text=_("Leave empty to keep the name of the version you copy."),
    )
    source = forms.ModelChoiceField(
        label=_("Copy the rules of"),
        queryset=StrategyMenu.objects.order_by("-version"),
        required=False,
        empty_label=_("The version in force"),
    )
    notes = forms.CharField(
        label=_("What changes and why"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["source"].label_from_instance = lambda m: (  # type: ignore[attr-defined]
            f"v{m.version} · {m.name} ({m.get_status_display()})"
        )
        _style(self)


class MenuEditForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    effective_from = forms.DateField(
        label=_("Planned start"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("You confirm the start date when you activate the version."),
    )
    notes = forms.CharField(
        label=_("What changes and why"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _style(self)


class ActivateForm(forms.Form):
    effective_from = forms.DateField(
        label=_("In force from"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("Today or a later date. The version in force until then ends the day before."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _style(self)


def role_choices() -> list[tuple[str, str]]:
    return [(r.code, str(r)) for r in Role.objects.filter(is_machine=False).order_by("code")]


class RuleForm(forms.Form):
    """One rule of a draft. On a new rule the tier and product line are chosen; on an existing one they
    are fixed (delete the rule and add another to move it)."""

    tier = forms.ChoiceField(label=_("Tier"))
    other_tier = forms.CharField(
        label=_("Other tier code"),
        required=False,
        max_length=20,
        help_text=_("Only when the tier is not in the list (a tier of a model to come)."),
    )
    product_line = forms.ModelChoiceField(
        label=_("Product line"),
        queryset=ProductLine.objects.filter(is_active=True).order_by("sort_order", "code"),
        required=False,
        empty_label=_("Every product line without its own rule"),
    )
    max_discount_pct = forms.DecimalField(
        label=_("Discount without approval (%)"), min_value=0, max_value=100, decimal_places=2, max_digits=5
    )
    approval_chain = forms.CharField(
        label=_("Approval chain above it"),
        required=False,
        max_length=300,
        help_text=_(
            "Role codes separated by commas, first approver first, e.g. sales_manager, sales_director."
        ),
    )
    payment_terms_days = forms.IntegerField(label=_("Payment terms (days)"), min_value=0, max_value=3650)
    credit_limit = forms.DecimalField(
        label=_("Default credit limit"), required=False, min_value=0, decimal_places=2, max_digits=16
    )
    delivery_priority = forms.IntegerField(
        label=_("Delivery priority"),
        min_value=1,
        max_value=32767,
        help_text=_("1 is served first when capacity is short."),
    )
    visit_every_days = forms.IntegerField(label=_("Visit every (days)"), required=False, min_value=1)
    visitor_seniority = forms.ChoiceField(label=_("Visited by"), choices=Seniority.choices)
    escalate_after_days = forms.IntegerField(
        label=_("Escalate after (days overdue)"), required=False, min_value=1
    )
    response_hours = forms.IntegerField(label=_("Service response (hours)"), required=False, min_value=1)
    resolution_hours = forms.IntegerField(label=_("Service resolution (hours)"), required=False, min_value=1)
    pool_recycle_days = forms.IntegerField(
        label=_("Back to the pool after (days without a visit)"),
        required=False,
        min_value=1,
        help_text=_("Empty: the pool's own rules decide."),
    )
    entitlements = forms.CharField(
        label=_("Other entitlements"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One per line."),
    )

    def __init__(
        self, *args: Any, fixed_key: bool = False, extra_tiers: Sequence[str] = (), **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        tiers = tier_catalogue()
        known = {code for code, _label in tiers}
        choices: list[tuple[str, Any]] = [(code, f"{label} ({code})") for code, label in tiers]
        choices += [(t, t) for t in extra_tiers if t and t not in known]
        choices += [(UNTIERED, _("Customers without a tier")), (OTHER, _("Another tier…"))]
        self.fields["tier"].choices = choices  # type: ignore[attr-defined]
        self.roles = role_choices()
        self.fixed_key = fixed_key
        if fixed_key:
            for name in ("tier", "other_tier", "product_line"):
                del self.fields[name]
        _style(self)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if not self.fixed_key:
            tier = data.get("tier")
            if tier == OTHER:
                other = (data.get("other_tier") or "").strip()
                if not other:
                    self.add_error("other_tier", _("Enter the tier code."))
                data["tier_code"] = other
            else:
                data["tier_code"] = "" if tier == UNTIERED else (tier or "")
        text = (data.get("approval_chain") or "").replace("，", ",")
        data["chain"] = [c.strip() for c in text.split(",") if c.strip()]
        return data

    def rule_values(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "max_discount_pct": d["max_discount_pct"],
            "approval_chain": d["chain"],
            "payment_terms_days": d["payment_terms_days"],
            "credit_limit": d.get("credit_limit"),
            "delivery_priority": d["delivery_priority"],
            "visit_every_days": d.get("visit_every_days"),
            "visitor_seniority": d["visitor_seniority"],
            "escalate_after_days": d.get("escalate_after_days"),
            "response_hours": d.get("response_hours"),
            "resolution_hours": d.get("resolution_hours"),
            "pool_recycle_days": d.get("pool_recycle_days"),
            "entitlements": d.get("entitlements") or "",
        }

    @staticmethod
    def initial_for(rule: Any) -> dict[str, Any]:
        return {
            "max_discount_pct": rule.max_discount_pct,
            "approval_chain": ", ".join(rule.approval_chain or []),
            "payment_terms_days": rule.payment_terms_days,
            "credit_limit": rule.credit_limit,
            "delivery_priority": rule.delivery_priority,
            "visit_every_days": rule.visit_every_days,
            "visitor_seniority": rule.visitor_seniority,
            "escalate_after_days": rule.escalate_after_days,
            "response_hours": rule.response_hours,
            "resolution_hours": rule.resolution_hours,
            "pool_recycle_days": rule.pool_recycle_days,
            "entitlements": "\n".join(rule.entitlements or []),
        }
