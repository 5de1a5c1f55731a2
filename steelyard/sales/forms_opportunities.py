"""Forms of the opportunity pages: create/edit, solution lines, the checklist, stage moves, closing,
reopening, competitors, decision-makers and the virtual team. Services do the real validation; these
forms turn the inputs into values and show the services' errors beside the right field."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from steelyard.catalog.models import Product, ProductLine
from steelyard.core.filters import FastSelect
from steelyard.core.scopes import CHANGE
from steelyard.customers.models import Customer, DecisionRole
from steelyard.org.models import User
from steelyard.sales.models import (
    OPEN_CATEGORIES,
    Attitude,
    CloseReason,
    ForecastCategory,
    LineKind,
    OpportunitySource,
    TeamRole,
    ThreatLevel,
)

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def style(form: forms.Form) -> None:
    """Bootstrap classes on every widget (selects rendered fast: there may be hundreds of options)."""
    for field in form.fields.values():
        widget = field.widget
        if type(widget) is forms.Select:
            fast = FastSelect(attrs=widget.attrs)
            fast.choices = widget.choices
            field.widget = widget = fast
        if isinstance(widget, forms.CheckboxInput):
            widget.attrs.setdefault("class", "form-check-input")
        elif isinstance(widget, forms.Select):
            widget.attrs.setdefault("class", "form-select")
        elif not isinstance(widget, forms.HiddenInput):
            widget.attrs.setdefault("class", "form-control")


def _people(user: Any) -> Any:
    return (
        User.objects.visible_to(user)  # type: ignore[attr-defined]
        .filter(is_active=True, is_machine=False)
        .only("id", "username", "display_name", "first_name", "last_name")
        .order_by("display_name", "username")
    )


class OpportunityForm(forms.Form):
    """Create (with customer and product line) or edit an opportunity."""

    customer = forms.ModelChoiceField(
        label=_("Customer"), queryset=Customer.objects.none(), empty_label=_("Choose a customer")
    )
    product_line = forms.ModelChoiceField(
        label=_("Product line"), queryset=ProductLine.objects.none(), empty_label=_("Choose a product line")
    )
    name = forms.CharField(label=_("Name"), max_length=200)
    expected_close_date = forms.DateField(label=_("Expected close date"), widget=DATE_INPUT)
    amount = forms.DecimalField(
        label=_("Amount"),
        required=False,
        min_value=0,
        max_digits=16,
        decimal_places=2,
        help_text=_("Leave empty to use the sum of the solution lines."),
    )
    probability = forms.DecimalField(
        label=_("Probability (%)"),
        required=False,
        min_value=0,
        max_value=100,
        max_digits=5,
        decimal_places=2,
        help_text=_("Leave empty to use the stage's probability."),
    )
    forecast_category = forms.ChoiceField(
        label=_("Forecast category"),
        required=False,
        choices=[("", _("The stage's category"))]
        + [(c.value, c.label) for c in ForecastCategory if c.value in OPEN_CATEGORIES],
    )
    source = forms.ChoiceField(
        label=_("Source"), required=False, choices=[("", "—"), *OpportunitySource.choices]
    )
    source_detail = forms.CharField(
        label=_("Source detail"),
        max_length=200,
        required=False,
        help_text=_("Which lead, campaign or exhibition."),
    )
    next_step = forms.CharField(label=_("Next step"), max_length=200, required=False)
    next_step_date = forms.DateField(label=_("Next step by"), required=False, widget=DATE_INPUT)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    owner = forms.ModelChoiceField(
        label=_("Owner"), queryset=User.objects.none(), required=False, empty_label=None
    )

    def __init__(
        self,
        *args: Any,
        user: Any,
        opportunity: Any = None,
        customer: Customer | None = None,
        can_reassign: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.opportunity = opportunity
        if opportunity is None:
            del self.fields["probability"], self.fields["forecast_category"]
            self.fields["product_line"].queryset = ProductLine.objects.filter(is_active=True)  # type: ignore[attr-defined]
            if customer is not None:
                self.fields["customer"].queryset = Customer.objects.filter(pk=customer.pk)  # type: ignore[attr-defined]
                self.fields["customer"].initial = customer.pk
                self.fields["customer"].widget = forms.HiddenInput()
                self.fixed_customer = customer
            else:
                self.fixed_customer = None
                self.fields["customer"].queryset = (  # type: ignore[attr-defined]
                    Customer.objects.visible_to(user, CHANGE)  # type: ignore[attr-defined]
                    .filter(merged_into__isnull=True)
                    .only("id", "legal_name")
                    .order_by("legal_name")
                )
                self.fields["customer"].help_text = _(
                    "Only customers you look after. You can also start from the customer's page."
                )
        else:
            del self.fields["customer"], self.fields["product_line"]
            self.fixed_customer = opportunity.customer
            if opportunity.amount_is_manual:
                self.fields["amount"].initial = opportunity.amount
            if opportunity.probability_is_manual:
                self.fields["probability"].initial = opportunity.probability
            if opportunity.forecast_category_is_manual:
                self.fields["forecast_category"].initial = opportunity.forecast_category
            if not opportunity.is_open:
                for name in ("amount", "probability", "forecast_category", "expected_close_date"):
                    self.fields[name].disabled = True
            for name in (
                "name",
                "expected_close_date",
                "source",
                "source_detail",
                "next_step",
                "next_step_date",
                "description",
            ):
                self.fields[name].initial = getattr(opportunity, name)
        if can_reassign:
            self.fields["owner"].queryset = _people(user)  # type: ignore[attr-defined]
            self.fields["owner"].initial = opportunity.owner_id if opportunity is not None else user.pk
        else:
            del self.fields["owner"]
        style(self)

    def create_kwargs(self) -> dict[str, Any]:
        d = self.cleaned_data
        out = {
            "customer": d["customer"],
            "product_line": d["product_line"],
            "name": d["name"],
            "expected_close_date": d["expected_close_date"],
            "amount": d.get("amount"),
            "source": d.get("source") or "",
            "source_detail": d.get("source_detail") or "",
            "next_step": d.get("next_step") or "",
            "next_step_date": d.get("next_step_date"),
            "description": d.get("description") or "",
        }
        if "owner" in self.fields:
            out["owner"] = d.get("owner")
        return out

    def update_kwargs(self) -> dict[str, Any]:
        d = self.cleaned_data
        out: dict[str, Any] = {
            name: d.get(name)
            for name in ("name", "source", "source_detail", "next_step", "next_step_date", "description")
        }
        if self.opportunity.is_open:
            out["expected_close_date"] = d.get("expected_close_date")
            out["amount"] = d.get("amount")
            out["probability"] = d.get("probability")
            out["forecast_category"] = d.get("forecast_category") or None
        if "owner" in self.fields and d.get("owner") is not None:
            out["owner"] = d["owner"]
        return out


class LineForm(forms.Form):
    product = forms.ModelChoiceField(
        label=_("Product"),
        queryset=Product.objects.none(),
        required=False,
        empty_label=_("No catalogue product"),
    )
    kind = forms.ChoiceField(
        label=_("Kind"), choices=[("", _("From the product")), *LineKind.choices], required=False
    )
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
    quantity = forms.DecimalField(
        label=_("Quantity"), required=False, min_value=0, max_digits=12, decimal_places=2
    )
    unit_price = forms.DecimalField(
        label=_("Unit price"),
        required=False,
        min_value=0,
        max_digits=16,
        decimal_places=2,
        help_text=_("Empty: the product's list price."),
    )
    parent = forms.IntegerField(
        label=_("Option of line no."),
        required=False,
        min_value=1,
        help_text=_("For an option: the machine's line number."),
    )
    DELETE = forms.BooleanField(label=_("Remove"), required=False)

    def __init__(self, *args: Any, products: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if products is not None:
            self.fields["product"].queryset = products  # type: ignore[attr-defined]
        style(self)

    def is_blank(self) -> bool:
        d = getattr(self, "cleaned_data", {}) or {}
        return not (d.get("product") or (d.get("description") or "").strip())


class BaseLineFormSet(forms.BaseFormSet):
    def __init__(self, *args: Any, products: Any = None, **kwargs: Any) -> None:
        self.products = products
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        return {**super().get_form_kwargs(index), "products": self.products}

    def service_lines(self) -> list[dict[str, Any]]:
        """The kept lines as the service takes them; ``parent`` turns from a line number into an index."""
        kept = [
            f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE") and not f.is_blank()
        ]
        numbers = {}
        for index, f in enumerate(kept):
            numbers[self.forms.index(f) + 1] = index
        out = []
        for f in kept:
            d = f.cleaned_data
            parent = d.get("parent")
            out.append(
                {
                    "product": d.get("product"),
                    "kind": d.get("kind") or None,
                    "description": d.get("description") or "",
                    "quantity": d.get("quantity"),
                    "unit_price": d.get("unit_price"),
                    "parent": numbers.get(parent, -1) if parent else None,
                }
            )
        return out


LineFormSet = forms.formset_factory(LineForm, formset=BaseLineFormSet, extra=2, max_num=60, absolute_max=60)


class ChecklistForm(forms.Form):
    done = forms.BooleanField(label=_("Done"), required=False)
    note = forms.CharField(label=_("Note"), max_length=300, required=False)
    file = forms.FileField(label=_("Document"), required=False)


class MoveForm(forms.Form):
    to_stage = forms.IntegerField(widget=forms.HiddenInput)
    request_approval = forms.BooleanField(required=False, widget=forms.HiddenInput)
    reason = forms.CharField(
        label=_("Why should the deal move on anyway?"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    close_reason = forms.ChoiceField(
        label=_("Reason"), required=False, choices=[("", "—"), *CloseReason.choices]
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=1000)


class CloseForm(forms.Form):
    outcome = forms.ChoiceField(choices=[("won", _("Won")), ("lost", _("Lost"))], widget=forms.HiddenInput)
    reason = forms.ChoiceField(label=_("Reason"), required=False, choices=[("", "—"), *CloseReason.choices])
    lost_to = forms.CharField(
        label=_("Lost to"), required=False, max_length=100, help_text=_("The competitor who won, if any.")
    )
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    closed_on = forms.DateField(
        label=_("Closed on"), required=False, widget=DATE_INPUT, help_text=_("Empty: today.")
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style(self)


class ReopenForm(forms.Form):
    reason = forms.CharField(label=_("Why reopen it?"), required=False, max_length=500)


class CompetitorForm(forms.Form):
    competitor = forms.CharField(label=_("Competitor"), max_length=100)
    threat = forms.ChoiceField(label=_("Threat"), choices=ThreatLevel.choices, initial=ThreatLevel.MEDIUM)
    strengths = forms.CharField(
        label=_("Strengths"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    weaknesses = forms.CharField(
        label=_("Weaknesses"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    price_position = forms.CharField(label=_("Their price"), required=False, max_length=100)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["competitor"].widget.attrs["list"] = "competitor-names"
        style(self)


class ContactRoleForm(forms.Form):
    contact = forms.ModelChoiceField(label=_("Contact"), queryset=None, empty_label=_("Choose a contact"))  # type: ignore[arg-type]
    role = forms.ChoiceField(label=_("Role in the decision"), choices=DecisionRole.choices)
    attitude = forms.ChoiceField(label=_("Attitude"), choices=Attitude.choices, initial=Attitude.NEUTRAL)
    note = forms.CharField(label=_("Note"), required=False, max_length=200)

    def __init__(self, *args: Any, contacts: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["contact"].queryset = contacts  # type: ignore[attr-defined]
        style(self)


class MemberForm(forms.Form):
    user = forms.ModelChoiceField(label=_("Person"), queryset=None, empty_label=_("Choose a person"))  # type: ignore[arg-type]
    role = forms.ChoiceField(
        label=_("Role"), choices=[(c.value, c.label) for c in TeamRole if c != TeamRole.OWNER]
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The virtual team spans units (the solution engineer, the delivery manager): anybody active.
        self.fields["user"].queryset = (  # type: ignore[attr-defined]
            User.objects.filter(is_active=True, is_machine=False)
            .only("id", "username", "display_name", "first_name", "last_name")
            .order_by("display_name", "username")
        )
        style(self)
