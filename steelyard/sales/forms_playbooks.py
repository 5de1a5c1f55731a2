"""Forms of the playbook screens: the versions filter, a new version, a draft's details, a stage, a checklist
item, and the stage map of a move. The services check again (the API calls them directly); these forms
explain on the page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from steelyard.catalog.models import ProductLine
from steelyard.core.filters import ListFilter
from steelyard.sales.models import (
    OPEN_CATEGORIES,
    REQUIRABLE_FIELDS,
    ForecastCategory,
    ItemKind,
    Playbook,
    PlaybookItem,
    PlaybookStage,
    PlaybookStatus,
)

DEFAULT_LINE = "default"  # the filter value of "the default playbook" (an empty value means "any")

STATUS_BADGES = {
    PlaybookStatus.DRAFT: "text-bg-warning",
    PlaybookStatus.ACTIVE: "text-bg-success",
    PlaybookStatus.RETIRED: "text-bg-secondary",
}

STAGE_OPEN = "open"
STAGE_WON = "won"
STAGE_LOST = "lost"


def _style(form: forms.BaseForm) -> None:
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.CheckboxInput):
            widget.attrs.setdefault("class", "form-check-input")
        elif isinstance(widget, forms.Select):
            widget.attrs.setdefault("class", "form-select")
        elif not isinstance(widget, forms.HiddenInput):
            widget.attrs.setdefault("class", "form-control")


def line_choices() -> list[tuple[str, Any]]:
    return [(DEFAULT_LINE, _("Default (lines without their own)"))] + [
        (str(pl.pk), str(pl)) for pl in ProductLine.objects.order_by("sort_order", "code")
    ]


class PlaybookFilter(ListFilter):
    """Filters of the playbooks list, shared by the page and the API."""

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    line = forms.ChoiceField(label=_("Product line"), required=False)
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All statuses")), *PlaybookStatus.choices]
    )

    sort_fields = {
        "line": ("product_line__sort_order", "product_line_id", "-version"),
        "version": ("version",),
        "name": ("name",),
        "updated": ("updated_at",),
    }
    default_sort = "line"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["line"]
        field.choices = [("", _("All product lines")), *line_choices()]  # type: ignore[attr-defined]
        field.widget.choices = field.choices  # type: ignore[attr-defined]

    def filter_queryset(self, queryset: QuerySet, data: dict[str, Any]) -> QuerySet:
        if data.get("q"):
            q = data["q"].strip()
            cond = (
                Q(name__icontains=q)
                | Q(description__icontains=q)
                | Q(product_line__name__icontains=q)
                | Q(product_line__code__iexact=q)
            )
            if q.lstrip("vV").isdigit():
                cond |= Q(version=int(q.lstrip("vV")))
            queryset = queryset.filter(cond)
        line = data.get("line")
        if line == DEFAULT_LINE:
            queryset = queryset.filter(product_line__isnull=True)
        elif line:
            queryset = queryset.filter(product_line_id=int(line))
        if data.get("status"):
            queryset = queryset.filter(status=data["status"])
        return queryset

    def order(self, queryset: QuerySet, sort: str) -> QuerySet:
        # The default playbook (no line) comes first, then the lines in their order; newest version first.
        if sort.lstrip("-") == "line":
            desc = sort.startswith("-")
            first = "product_line__sort_order"
            return queryset.order_by(
                f"-{first}" if desc else first,
                "-product_line_id" if desc else "product_line_id",
                "-version",
                "-pk",
            )
        return super().order(queryset, sort)


class PlaybookCreateForm(forms.Form):
    product_line = forms.ModelChoiceField(
        label=_("Product line"),
        queryset=ProductLine.objects.filter(is_active=True).order_by("sort_order", "code"),
        required=False,
        empty_label=_("Default (lines without their own)"),
        help_text=_(
            "The new draft copies the line's version in force; a line's first playbook copies the default."
        ),
    )
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        required=False,
        help_text=_("Leave empty to keep the name of the version you copy."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _style(self)


class PlaybookEditForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _style(self)


class StageForm(forms.Form):
    """One stage of a draft. A won or lost stage takes its probability (100 / 0) and category itself."""

    closing = forms.ChoiceField(
        label=_("Kind of stage"),
        choices=[
            (STAGE_OPEN, _("Open stage")),
            (STAGE_WON, _("Closed won")),
            (STAGE_LOST, _("Closed lost")),
        ],
        initial=STAGE_OPEN,
    )
    code = forms.SlugField(
        label=_("Code"),
        max_length=30,
        help_text=_(
            "Short and stable, e.g. needs. Stages with the same code are matched when opportunities move."
        ),
    )
    name = forms.CharField(label=_("Name"), max_length=60)
    name_en = forms.CharField(label=_("English name"), max_length=60, required=False)
    probability = forms.DecimalField(
        label=_("Probability (%)"), min_value=0, max_value=100, decimal_places=2, max_digits=5, required=False
    )
    forecast_category = forms.ChoiceField(
        label=_("Forecast category"),
        choices=[(c.value, c.label) for c in OPEN_CATEGORIES],
        required=False,
    )
    stall_days = forms.IntegerField(
        label=_("Stalled after (days without activity)"),
        min_value=1,
        max_value=3650,
        required=False,
        help_text=_("Empty: never flagged as stalled."),
    )
    exit_criteria = forms.CharField(
        label=_("Exit criteria"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("What must be true before the opportunity leaves this stage."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _style(self)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        closing = data.get("closing")
        if closing == STAGE_WON:
            data["probability"], data["forecast_category"] = 100, ForecastCategory.CLOSED_WON
        elif closing == STAGE_LOST:
            data["probability"], data["forecast_category"] = 0, ForecastCategory.CLOSED_LOST
        elif closing == STAGE_OPEN:
            if data.get("probability") is None and "probability" not in self.errors:
                self.add_error("probability", _("Enter the probability of winning from this stage."))
            if not data.get("forecast_category") and "forecast_category" not in self.errors:
                data["forecast_category"] = ForecastCategory.PIPELINE
        return data

    def stage_values(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "code": d["code"],
            "name": d["name"],
            "name_en": d.get("name_en") or "",
            "probability": d["probability"],
            "forecast_category": d["forecast_category"],
            "stall_days": d.get("stall_days"),
            "exit_criteria": d.get("exit_criteria") or "",
            "is_won": d["closing"] == STAGE_WON,
            "is_lost": d["closing"] == STAGE_LOST,
        }

    @staticmethod
    def initial_for(stage: PlaybookStage) -> dict[str, Any]:
        return {
            "closing": STAGE_WON if stage.is_won else STAGE_LOST if stage.is_lost else STAGE_OPEN,
            "code": stage.code,
            "name": stage.name,
            "name_en": stage.name_en,
            "probability": stage.probability,
            "forecast_category": stage.forecast_category if not stage.is_closed else "",
            "stall_days": stage.stall_days,
            "exit_criteria": stage.exit_criteria,
        }


def field_choices() -> list[tuple[str, Any]]:
    return [("", _("Choose a field…"))] + [(k, v) for k, v in REQUIRABLE_FIELDS.items()]


class ItemForm(forms.Form):
    """One checklist item of a draft stage."""

    kind = forms.ChoiceField(label=_("Kind"), choices=ItemKind.choices, initial=ItemKind.TASK)
    label = forms.CharField(
        label=_("Label"),
        max_length=200,
        required=False,
        help_text=_("What the rep sees, e.g. 现场调研. Empty for required information: the field's name."),
    )
    label_en = forms.CharField(label=_("English label"), max_length=200, required=False)
    field = forms.ChoiceField(
        label=_("Opportunity field"),
        required=False,
        help_text=_("For required information only: filled in on the opportunity, it satisfies the item."),
    )
    required = forms.BooleanField(
        label=_("Required to leave the stage"),
        required=False,
        help_text=_("Moving on with a required item missing needs a manager's approval."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["field"].choices = field_choices()  # type: ignore[attr-defined]
        _style(self)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("kind") == ItemKind.FIELD and not data.get("field"):
            self.add_error("field", _("Choose which opportunity field this item requires."))
        if data.get("kind") != ItemKind.FIELD:
            data["field"] = ""
        if data.get("kind") != ItemKind.FIELD and not (data.get("label") or "").strip():
            self.add_error("label", _("This field is required."))
        return data

    def item_values(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "kind": d["kind"],
            "label": d.get("label") or "",
            "label_en": d.get("label_en") or "",
            "field": d.get("field") or "",
            "required": bool(d.get("required")),
        }

    @staticmethod
    def initial_for(item: PlaybookItem) -> dict[str, Any]:
        return {
            "kind": item.kind,
            "label": item.label,
            "label_en": item.label_en,
            "field": item.field,
            "required": item.required,
        }


class MigrateForm(forms.Form):
    """Where the open opportunities of each stage of the older version go: one choice per open stage."""

    def __init__(
        self,
        *args: Any,
        source_stages: list[PlaybookStage],
        target_stages: list[PlaybookStage],
        counts: dict[int, int],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        choices: list[tuple[str, Any]] = [("", _("Choose a stage…"))] + [
            (str(t.pk), f"{t.order}. {t.name}") for t in target_stages
        ]
        self.stage_fields: list[tuple[PlaybookStage, str]] = []
        for s in source_stages:
            name = f"stage_{s.pk}"
            self.fields[name] = forms.ChoiceField(
                label=f"{s.order}. {s.name}",
                choices=choices,
                required=counts.get(s.pk, 0) > 0,
            )
            self.stage_fields.append((s, name))
        _style(self)

    def stage_map(self) -> dict[int, int | None]:
        out: dict[int, int | None] = {}
        for stage, name in self.stage_fields:
            value = self.cleaned_data.get(name) if hasattr(self, "cleaned_data") else None
            out[stage.pk] = int(value) if value else None
        return out


class TargetChoiceForm(forms.Form):
    """Which version in force the opportunities move onto (the default playbook may feed several lines)."""

    target = forms.ModelChoiceField(label=_("Move onto"), queryset=Playbook.objects.none(), empty_label=None)

    def __init__(self, *args: Any, targets: list[Playbook], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["target"]
        field.queryset = Playbook.objects.filter(pk__in=[t.pk for t in targets])  # type: ignore[attr-defined]
        field.label_from_instance = lambda p: (  # type: ignore[attr-defined]
            f"{p.product_line or _('Default')} · v{p.version} {p.name}"
        )
        field.widget.attrs["data-autosubmit"] = ""
        _style(self)
