"""Order-to-cash forms: the CRM's own timeline steps (delivered, installed, accepted)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from steelyard.orders.models import OrderStatus
from steelyard.orders.services.orders import CLOCK_SKEW, CRM_STEPS, ERR_FUTURE, NOTE_MAX


def apply_service_error(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form: per field when it names fields, else on top."""
    if hasattr(error, "error_dict"):
        for name, errs in error.error_dict.items():
            form.add_error(name if name in form.fields else None, errs)
    else:
        form.add_error(None, error)


class OrderStatusForm(forms.Form):
    """Record a step the CRM owns; the time defaults to now and may not be in the future."""

    status = forms.ChoiceField(
        label=_("Step"), choices=[(s, label) for s, label in OrderStatus.choices if s in CRM_STEPS]
    )
    at = forms.DateTimeField(
        label=_("When"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
    )
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=NOTE_MAX,
        help_text=_("Who signed the delivery note, acceptance remarks…"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {}).setdefault(
            "at", timezone.localtime().replace(second=0, microsecond=0)
        )
        super().__init__(*args, **kwargs)
        self.fields["status"].widget.attrs["class"] = "form-select"
        for name in ("at", "note"):
            self.fields[name].widget.attrs["class"] = "form-control"

    def clean_at(self) -> Any:
        at = self.cleaned_data["at"]
        if at > timezone.now() + CLOCK_SKEW:
            raise ValidationError(ERR_FUTURE, code="future")
        return at
