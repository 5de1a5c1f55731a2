"""Forms of the tier-model editor: the model's own fields, a formset of tiers and a formset of factors, each
factor with an editable list of bands (rows of "from" and "share"), and the copy-for-a-product-line form.

The forms only parse what was typed; the rules that span rows (ranks contiguous, thresholds decreasing,
bands ascending...) live in ``services.models_admin`` and come back here as errors on the right row and
field (:func:`apply_service_errors`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms import formset_factory
from django.template.loader import render_to_string
from django.utils.translation import gettext_lazy as _

from steelyard.catalog.models import ProductLine
from steelyard.tiering.models import FactorCode, Scoring, TierModel
from steelyard.tiering.services import models_admin as services

TIER_PREFIX = "tiers"
FACTOR_PREFIX = "factors"

#: What a factor's raw value is measured in (shown next to its bands).
FACTOR_UNITS: dict[str, Any] = {
    FactorCode.REVENUE_12M: _("CNY"),
    FactorCode.GROSS_MARGIN: _("share, 0.25 = 25%"),
    FactorCode.REVENUE_GROWTH: _("share, 0.1 = growth of 10 percent"),
    FactorCode.DAYS_LATE: _("days"),
    FactorCode.OVERDUE_SHARE: _("share of receivables, 0–1"),
    FactorCode.PURCHASE_FREQUENCY: _("orders"),
    FactorCode.RECENCY: _("days"),
    FactorCode.INSTALLED_BASE: _("units"),
    FactorCode.POTENTIAL: _("CNY a year"),
    FactorCode.STRATEGIC_FIT: _("points, as entered"),
}


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        value = Decimal(str(value))
    if isinstance(value, Decimal):
        value = value.normalize()
        text = format(value, "f")
        return text
    return str(value)


class BandsWidget(forms.Widget):
    """Rows of "from" (lower bound) and "share" inputs, named ``<name>-bound`` / ``<name>-share``.

    Rows are read by position; a row left empty is dropped. "Add band" and the remove buttons are
    handled by ``tiering/model_editor.js``; without script, two empty rows are always offered.
    """

    template_name = "tiering/models/_bands_widget.html"
    spare_rows = 2

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[list[str]]:
        getlist = data.getlist if hasattr(data, "getlist") else (lambda k: data.get(k) or [])
        bounds = list(getlist(f"{name}-bound"))
        shares = list(getlist(f"{name}-share"))
        rows = []
        for i in range(max(len(bounds), len(shares))):
            b = (bounds[i] if i < len(bounds) else "").strip()
            s = (shares[i] if i < len(shares) else "").strip()
            if b or s:
                rows.append([b, s])
        return rows

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return f"{name}-bound" not in data and f"{name}-share" not in data

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> str:
        rows = []
        for band in value or []:
            if isinstance(band, (list, tuple)) and len(band) == 2:
                rows.append({"bound": _fmt(band[0]), "share": _fmt(band[1])})
        spare = [{"bound": "", "share": ""}] * (self.spare_rows if len(rows) < 2 else 1)
        final = self.build_attrs(self.attrs, attrs)
        return render_to_string(
            self.template_name, {"name": name, "rows": rows, "spare": spare, "id": final.get("id", name)}
        )


class BandsField(forms.Field):
    widget = BandsWidget

    def to_python(self, value: Any) -> list[list[str]]:
        if not value:
            return []
        if not isinstance(value, (list, tuple)):
            raise ValidationError(services.ERR_BAND_SHAPE)
        return [list(b) for b in value]

    def has_changed(self, initial: Any, data: Any) -> bool:
        def norm(rows: Any) -> list[list[str]]:
            return [[_fmt(x) for x in r] for r in rows or [] if isinstance(r, (list, tuple))]

        return norm(initial) != norm(data)


def _style(form: forms.Form) -> None:
    for field in form.fields.values():
        w = field.widget
        if isinstance(w, (forms.HiddenInput, BandsWidget)):
            continue
        if isinstance(w, forms.CheckboxInput):
            w.attrs.setdefault("class", "form-check-input")
        elif isinstance(w, forms.Select):
            w.attrs.setdefault("class", "form-select form-select-sm")
        else:
            w.attrs.setdefault("class", "form-control form-control-sm")


class TierModelForm(forms.Form):
    """The model's own fields."""

    code = forms.SlugField(
        label=_("Code"),
        max_length=40,
        help_text=_("A short key, e.g. global or cranes. Letters, digits, -, _."),
    )
    name = forms.CharField(label=_("Name"), max_length=100)
    product_line = forms.ModelChoiceField(
        label=_("Product line"),
        queryset=ProductLine.objects.none(),
        required=False,
        empty_label=_("All product lines (the global model)"),
        help_text=_(
            "The global model's tier is the customer's tier; a product line's model tiers that line."
        ),
    )
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    hysteresis_margin = forms.DecimalField(
        label=_("Hysteresis margin (points)"),
        min_value=0,
        max_value=100,
        decimal_places=2,
        help_text=_("A customer moves at once only when it crosses a threshold by at least this much."),
    )
    hysteresis_runs = forms.IntegerField(
        label=_("Consecutive assessments"),
        min_value=1,
        max_value=services.MAX_RUNS,
        help_text=_("…or when it stays across the threshold for this many assessments in a row."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["product_line"].queryset = ProductLine.objects.order_by("sort_order", "code")  # type: ignore[attr-defined]
        _style(self)
        self.fields["product_line"].widget.attrs["class"] = "form-select"
        for name in ("code", "name", "description", "hysteresis_margin", "hysteresis_runs"):
            self.fields[name].widget.attrs["class"] = "form-control"


class TierRowForm(forms.Form):
    code = forms.CharField(label=_("Code"), max_length=20)
    name = forms.CharField(label=_("Name"), max_length=50)
    name_en = forms.CharField(label=_("English name"), max_length=50, required=False)
    rank = forms.IntegerField(label=_("Rank"), min_value=1, max_value=99)
    min_score = forms.DecimalField(label=_("Minimum score"), min_value=0, max_digits=7, decimal_places=2)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _style(self)
        self.fields["min_score"].widget.attrs["step"] = "0.01"


class FactorRowForm(forms.Form):
    code = forms.ChoiceField(label=_("Factor"), choices=[("", "—"), *FactorCode.choices])
    weight = forms.DecimalField(label=_("Weight"), min_value=0, max_digits=6, decimal_places=2)
    scoring = forms.ChoiceField(label=_("Scoring"), choices=Scoring.choices, initial=Scoring.BANDS)
    bands = BandsField(label=_("Bands"), required=False)
    lower = forms.DecimalField(label=_("From"), required=False, max_digits=18, decimal_places=4)
    upper = forms.DecimalField(label=_("To"), required=False, max_digits=18, decimal_places=4)
    higher_is_better = forms.BooleanField(label=_("Higher is better"), required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _style(self)
        self.fields["weight"].widget.attrs["step"] = "0.01"
        for name in ("lower", "upper"):
            self.fields[name].widget.attrs["step"] = "any"

    @property
    def unit(self) -> Any:
        code = self["code"].value()
        return FACTOR_UNITS.get(code, "")


class _RowFormSet(forms.BaseFormSet):
    def rows(self) -> tuple[list[dict[str, Any]], list[forms.Form]]:
        """The kept rows' cleaned data (deleted and blank rows left out), and their forms, in order."""
        data, kept = [], []
        for form in self.forms:
            if self.can_delete and self._should_delete_form(form):
                continue
            if not form.has_changed() and form.empty_permitted:
                continue
            cleaned = {k: v for k, v in form.cleaned_data.items() if k != "DELETE"}
            if not cleaned:
                continue
            data.append(cleaned)
            kept.append(form)
        return data, kept


TierFormSet = formset_factory(TierRowForm, formset=_RowFormSet, extra=0, can_delete=True, max_num=20)
FactorFormSet = formset_factory(FactorRowForm, formset=_RowFormSet, extra=0, can_delete=True, max_num=20)


class EditorForms:
    """The editor's three parts, bound together."""

    def __init__(
        self,
        data: Any = None,
        *,
        model: TierModel | None = None,
        initial: Mapping[str, Any] | None = None,
        tiers: Sequence[Mapping[str, Any]] = (),
        factors: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self.model = model
        self.main = TierModelForm(data, initial=initial)
        tier_initial = [dict(t) for t in tiers]
        factor_initial = [
            {**f, "bands": f.get("bands") or [], "higher_is_better": f.get("higher_is_better", True)}
            for f in factors
        ]
        self.tiers = TierFormSet(data, initial=tier_initial, prefix=TIER_PREFIX)
        self.factors = FactorFormSet(data, initial=factor_initial, prefix=FACTOR_PREFIX)
        self.errors_general: list[str] = []

    def is_valid(self) -> bool:
        ok = self.main.is_valid()
        ok = self.tiers.is_valid() and ok
        ok = self.factors.is_valid() and ok
        return ok

    def fields(self) -> dict[str, Any]:
        data = dict(self.main.cleaned_data)
        return {k: data.get(k) for k in services.MODEL_FIELDS if k in data}

    def tier_rows(self) -> list[dict[str, Any]]:
        self._tier_rows, self._tier_forms = self.tiers.rows()
        return self._tier_rows

    def factor_rows(self) -> list[dict[str, Any]]:
        self._factor_rows, self._factor_forms = self.factors.rows()
        return self._factor_rows

    def apply_service_errors(self, error: ValidationError) -> None:
        """Put each ``tiers.2.min_score``-style error on its row's field; the rest on top of the form."""
        apply_service_errors(self, error)

    def error_summary(self) -> list[str]:
        """Every error as one readable line ("Tier 2 · Minimum score: …"), for the preview panel."""
        lines = [str(m) for m in self.errors_general]
        for name, errs in self.main.errors.items():
            label = self.main.fields[name].label if name in self.main.fields else ""
            lines += [f"{label}: {e}" if label else str(e) for e in errs]
        for title, formset in ((_("Tier %(n)s"), self.tiers), (_("Factor %(n)s"), self.factors)):
            lines += [str(m) for m in formset.non_form_errors()]
            lines += [str(m) for m in getattr(formset, "service_errors", [])]
            for i, form in enumerate(formset.forms):
                for name, errs in form.errors.items():
                    label = form.fields[name].label if name in form.fields else ""
                    head = str(title % {"n": i + 1})
                    lines += [f"{head} · {label}: {e}" if label else f"{head}: {e}" for e in errs]
        return lines

    @property
    def all_errors(self) -> bool:
        return bool(
            self.main.errors
            or self.tiers.total_error_count()
            or self.factors.total_error_count()
            or self.errors_general
        )


def apply_service_errors(editor: EditorForms, error: ValidationError) -> None:
    if not hasattr(error, "error_dict"):
        editor.errors_general.extend(error.messages)
        return
    tier_forms = getattr(editor, "_tier_forms", [])
    factor_forms = getattr(editor, "_factor_forms", [])
    for path, messages in error.message_dict.items():
        parts = path.split(".")
        head = parts[0]
        if head in editor.main.fields and len(parts) == 1:
            for m in messages:
                editor.main.add_error(head, m)
            continue
        if head in (TIER_PREFIX, FACTOR_PREFIX):
            forms_list = tier_forms if head == TIER_PREFIX else factor_forms
            if len(parts) >= 3 and parts[1].isdigit() and int(parts[1]) < len(forms_list):
                form = forms_list[int(parts[1])]
                field = parts[2]
                if field == "bands" and len(parts) >= 4 and parts[3].isdigit():
                    messages = [
                        str(_("Band %(n)s: %(message)s") % {"n": int(parts[3]) + 1, "message": m})
                        for m in messages
                    ]
                for m in messages:
                    form.add_error(field if field in form.fields else None, m)
                continue
            target = editor.tiers if head == TIER_PREFIX else editor.factors
            target.service_errors = [*getattr(target, "service_errors", []), *messages]  # type: ignore[attr-defined]
            continue
        editor.errors_general.extend(messages)


class CopyForm(forms.Form):
    """Copy the global model for one product line."""

    product_line = forms.ModelChoiceField(
        label=_("Product line"), queryset=ProductLine.objects.none(), empty_label=_("Choose a product line")
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["product_line"].queryset = ProductLine.objects.filter(is_active=True).order_by(  # type: ignore[attr-defined]
            "sort_order", "code"
        )
        self.fields["product_line"].widget.attrs["class"] = "form-select"
