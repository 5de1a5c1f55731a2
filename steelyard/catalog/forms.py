"""Forms of the catalogue pages: product lines and products (administrators and planners)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from steelyard.catalog.models import Product, ProductKind, ProductLine

ERR_JSON = _("This is not valid JSON: %(error)s")
ERR_JSON_OBJECT = _('The settings must be a JSON object, e.g. {"sla_hours": 24}.')


def apply_service_error(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form: per field when it names fields, else on top."""
    if hasattr(error, "error_dict"):
        for field, errs in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errs)
    else:
        form.add_error(None, error)


class SettingsField(forms.CharField):
    """A JSON object typed into a textarea (shown pretty-printed)."""

    widget = forms.Textarea(attrs={"rows": 6, "class": "font-monospace", "spellcheck": "false"})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return json.dumps(value, ensure_ascii=False, indent=2) if value else ""
        return value

    def to_python(self, value: Any) -> dict[str, Any]:
        text = (super().to_python(value) or "").strip()
        if not text:
            return {}
        try:
            data = json.loads(text)
        except ValueError as e:
            raise ValidationError(ERR_JSON, params={"error": str(e)}, code="invalid")
        if not isinstance(data, dict):
            raise ValidationError(ERR_JSON_OBJECT, code="invalid")
        return data


class ProductLineForm(forms.ModelForm):
    settings = SettingsField(
        label=_("Settings"),
        required=False,
        help_text=_("Per-line settings that other modules read (stages, tiers, service levels), as JSON."),
    )

    class Meta:
        model = ProductLine
        fields = ["code", "name", "name_en", "description", "sort_order", "settings"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _style(self)

    def validate_unique(self) -> None:
        # Uniqueness (regardless of case) is checked by the service, with its own message.
        pass

    def service_fields(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


class ProductForm(forms.ModelForm):
    fits = forms.ModelMultipleChoiceField(
        label=_("Fits these machines"),
        queryset=Product.objects.none(),
        required=False,
        help_text=_(
            "For options, spare parts and services: the machine models they fit. Hold Ctrl to pick several."
        ),
        widget=forms.SelectMultiple(attrs={"size": 8}),
    )

    class Meta:
        model = Product
        fields = [
            "code",
            "name",
            "name_en",
            "product_line",
            "kind",
            "list_price",
            "currency",
            "unit",
            "description",
        ]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "list_price": forms.NumberInput(attrs={"min": "0", "step": "0.01", "inputmode": "decimal"}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        lines = ProductLine.objects.filter(is_active=True)
        if self.instance.pk and self.instance.product_line_id:
            lines = ProductLine.objects.filter(is_active=True) | ProductLine.objects.filter(
                pk=self.instance.product_line_id
            )
        self.fields["product_line"].queryset = lines.order_by("sort_order", "code")
        machines = Product.objects.filter(kind=ProductKind.MACHINE, is_active=True)
        if self.instance.pk:
            machines = (machines | Product.objects.filter(fitted_by=self.instance)).exclude(
                pk=self.instance.pk
            )
            self.initial.setdefault("fits", list(self.instance.fits.values_list("pk", flat=True)))
        self.fields["fits"].queryset = machines.select_related("product_line").distinct().order_by("code")
        self.fields["fits"].label_from_instance = lambda p: f"{p.code} {p.name}"  # type: ignore[attr-defined]
        self.fields["list_price"].min_value = 0
        _style(self)

    def validate_unique(self) -> None:
        pass

    def clean_list_price(self) -> Any:
        price = self.cleaned_data.get("list_price")
        if price is not None and price < 0:
            raise ValidationError(_("The price cannot be negative."), code="min_value")
        return price

    def service_fields(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


def _style(form: forms.Form) -> None:
    for field in form.fields.values():
        w = field.widget
        if isinstance(w, forms.CheckboxInput):
            w.attrs.setdefault("class", "form-check-input")
        elif isinstance(w, forms.Select):
            css = "form-select"
            w.attrs["class"] = f"{css} {w.attrs.get('class', '')}".strip()
        else:
            w.attrs["class"] = f"form-control {w.attrs.get('class', '')}".strip()
