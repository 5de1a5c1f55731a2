"""Forms of the integration console: a system, a token for it, and the filters of the batch lists.

The batch filter is shared by the HTML list and the API (``/api/v1/integrations/systems/{id}/batches``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from steelyard.core.filters import ListFilter
from steelyard.core.services.tokens import MAX_EXPIRY_DAYS
from steelyard.integrations.models import ExternalSystem, Outcome, SystemKind, Via
from steelyard.integrations.services.systems import entity_choices

HELP_EXPIRY = _("Between 1 and %(max)s days. Plan the renewal before it expires.")
ERR_DATE_ORDER = _("The end date must not be before the start date.")


class ExternalSystemForm(forms.Form):
    """Register or edit a system. On edit the code is shown but fixed."""

    code = forms.SlugField(
        label=_("Code"),
        max_length=30,
        help_text=_(
            "Short, lower-case, letters, digits and hyphens, e.g. “erp” or “mes-plant2”. "
            "The machine user is named sys-<code>; the code cannot be changed later."
        ),
    )
    name = forms.CharField(label=_("Name"), max_length=100)
    kind = forms.ChoiceField(label=_("Kind"), choices=SystemKind.choices, initial=SystemKind.ERP)
    description = forms.CharField(
        label=_("Description"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Who runs it, what it sends, whom to call when it breaks."),
    )
    entities = forms.MultipleChoiceField(
        label=_("May write"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The kinds of records this system may send. Leave all unticked to allow every kind."),
    )

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["entities"].choices = entity_choices()
        if editing:
            self.fields["code"].disabled = True
            self.fields["code"].help_text = _("The code cannot be changed.")
        for name, field in self.fields.items():
            if name == "entities":
                field.widget.attrs.setdefault("class", "form-check-input")
            elif isinstance(field.widget, forms.Select):
                field.widget.attrs.setdefault("class", "form-select")
            else:
                field.widget.attrs.setdefault("class", "form-control")
        self.fields["code"].widget.attrs.update({"autocapitalize": "none", "spellcheck": "false"})

    def clean_code(self) -> str:
        return (self.cleaned_data.get("code") or "").strip().lower()

    @classmethod
    def initial_for(cls, system: ExternalSystem) -> dict[str, Any]:
        return {
            "code": system.code,
            "name": system.name,
            "kind": system.kind,
            "description": system.description,
            "entities": list(system.entities or []),
        }


class SystemTokenForm(forms.Form):
    """Name and lifetime of a new token for a system's machine user."""

    name = forms.CharField(
        label=_("Token name"),
        max_length=80,
        help_text=_("Where it will be used, e.g. “ERP production server”."),
    )
    expires_in_days = forms.IntegerField(
        label=_("Expires after (days)"),
        min_value=1,
        max_value=MAX_EXPIRY_DAYS,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        initial = {"expires_in_days": min(settings.API_TOKEN_DEFAULT_DAYS, MAX_EXPIRY_DAYS)}
        kwargs["initial"] = {**initial, **(kwargs.get("initial") or {})}
        super().__init__(*args, **kwargs)
        self.fields["expires_in_days"].help_text = HELP_EXPIRY % {"max": MAX_EXPIRY_DAYS}
        for field in self.fields.values():
            field.widget.attrs.setdefault("class", "form-control")


REJECTIONS_CHOICES = [("", _("Any")), ("1", _("With rejections")), ("0", _("Without rejections"))]


class BatchFilter(ListFilter):
    """System, entity, via, with/without rejections, received between two dates."""

    system = forms.ModelChoiceField(
        label=_("System"),
        queryset=ExternalSystem.objects.none(),
        required=False,
        empty_label=_("All systems"),
    )
    entity = forms.ChoiceField(label=_("Entity"), required=False)
    via = forms.ChoiceField(label=_("Via"), choices=[("", _("API and files")), *Via.choices], required=False)
    rejected = forms.ChoiceField(label=_("Rejections"), choices=REJECTIONS_CHOICES, required=False)
    date_from = forms.DateField(
        label=_("Received from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("Received to"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    sort_fields = {
        "received": ("received_at",),
        "total": ("total",),
        "rejected": ("rejected",),
        "duration": ("duration_ms",),
    }
    default_sort = "-received"

    def __init__(
        self, data: Any = None, *, user: Any = None, with_system: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(data, user=user, **kwargs)
        if with_system:
            self.fields["system"].queryset = ExternalSystem.objects.order_by("code")
            self.fields["system"].label_from_instance = lambda s: f"{s.name} ({s.code})"
        else:
            del self.fields["system"]
        entity_field = self.fields["entity"]
        entity_field.choices = [("", _("All entities")), *entity_choices()]
        entity_field.widget.choices = entity_field.choices

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", ERR_DATE_ORDER)
        return data

    def filter_queryset(self, qs: QuerySet, data: dict[str, Any]) -> QuerySet:
        if data.get("system"):
            qs = qs.filter(system=data["system"])
        if data.get("entity"):
            qs = qs.filter(entity=data["entity"])
        if data.get("via"):
            qs = qs.filter(via=data["via"])
        if data.get("rejected") == "1":
            qs = qs.filter(rejected__gt=0)
        elif data.get("rejected") == "0":
            qs = qs.filter(rejected=0)
        tz = timezone.get_current_timezone()
        if data.get("date_from"):
            qs = qs.filter(received_at__gte=dt.datetime.combine(data["date_from"], dt.time.min, tzinfo=tz))
        if data.get("date_to"):
            end = dt.datetime.combine(data["date_to"] + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
            qs = qs.filter(received_at__lt=end)
        return qs


class ResultFilter(forms.Form):
    """The outcome tab of a batch's results."""

    outcome = forms.ChoiceField(choices=[("", _("All")), *Outcome.choices], required=False)

    @property
    def outcome_value(self) -> str:
        return self.cleaned_data.get("outcome", "") if self.is_valid() else ""
