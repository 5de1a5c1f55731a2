"""Forms of the customer-message screens: an endpoint, a message template."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from steelyard.customers.models import Contact, Customer
from steelyard.integrations.channels import CHANNELS
from steelyard.integrations.models import ChannelKind, NotificationEndpoint
from steelyard.integrations.services.messages import LANGUAGE_CHOICES, customer_facing_events


def _style(form: forms.Form) -> None:
    for field in form.fields.values():
        w = field.widget
        if isinstance(w, (forms.CheckboxSelectMultiple, forms.HiddenInput)):
            continue
        if isinstance(w, forms.CheckboxInput):
            w.attrs.setdefault("class", "form-check-input")
        elif isinstance(w, forms.Select):
            w.attrs.setdefault("class", "form-select")
        else:
            w.attrs.setdefault("class", "form-control")


class EndpointForm(forms.Form):
    """Where and how one customer (or one of its contacts) hears about its orders."""

    channel = forms.ChoiceField(label=_("Channel"), choices=ChannelKind.choices)
    address = forms.CharField(
        label=_("Address"),
        max_length=500,
        help_text=_(
            "Email: an email address. WeCom: the group robot's webhook URL. Webhook: your system's URL."
        ),
    )
    contact: forms.ModelChoiceField = forms.ModelChoiceField(
        label=_("Contact"),
        queryset=Contact.objects.none(),
        required=False,
        empty_label=_("The customer in general"),
    )
    language = forms.ChoiceField(label=_("Language"), choices=LANGUAGE_CHOICES, initial="zh-hans")
    events = forms.MultipleChoiceField(
        label=_("Events"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Tick none to receive every event."),
    )
    secret = forms.CharField(
        label=_("Signing secret"),
        max_length=100,
        required=False,
        help_text=_("Webhook only. Leave empty to keep the current one (a new webhook gets one made up)."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(
        self, *args: Any, customer: Customer, endpoint: NotificationEndpoint | None = None, **kwargs: Any
    ) -> None:
        if endpoint is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "channel": endpoint.channel,
                "address": endpoint.address,
                "contact": endpoint.contact_id,
                "language": endpoint.language,
                "events": endpoint.events,
                "is_active": endpoint.is_active,
            }
        super().__init__(*args, **kwargs)
        self.customer = customer
        contact_field: Any = self.fields["contact"]
        contact_field.queryset = Contact.objects.filter(customer=customer, is_active=True).order_by(
            "-is_primary", "name"
        )
        events_field: Any = self.fields["events"]
        events_field.choices = [(et.code, et.label) for et in customer_facing_events()]
        if endpoint is None:
            del self.fields["is_active"]
        _style(self)
        self.fields["address"].widget.attrs.update({"autocomplete": "off", "spellcheck": "false"})

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        channel, address = data.get("channel"), (data.get("address") or "").strip()
        if channel in CHANNELS and address:
            try:
                CHANNELS[channel].validate_address(address)
            except ValidationError as e:
                self.add_error("address", e)
        data["address"] = address
        return data

    def service_fields(self) -> dict[str, Any]:
        d = self.cleaned_data
        fields = {
            "channel": d["channel"],
            "address": d["address"],
            "contact": d.get("contact"),
            "language": d["language"],
            "events": d.get("events") or [],
        }
        if d.get("secret"):
            fields["secret"] = d["secret"]
        if "is_active" in self.fields:
            fields["is_active"] = bool(d.get("is_active"))
        return fields


class TemplateForm(forms.Form):
    """The administrator's wording of one event in one language (optionally for one channel)."""

    channel = forms.ChoiceField(
        label=_("Channel"),
        choices=[("", _("All channels")), *ChannelKind.choices],
        required=False,
        help_text=_("A wording for one channel wins over the one for all channels."),
    )
    subject = forms.CharField(label=_("Subject"), max_length=200)
    body = forms.CharField(label=_("Body"), widget=forms.Textarea(attrs={"rows": 9}))
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _style(self)
        self.fields["body"].widget.attrs["class"] = "form-control font-monospace"
