"""Reading tier models, their runs, the tier-migration matrix of a run and the customers in each cell.

Tier models and runs are configuration and bookkeeping (no owner, no unit): anyone signed in may read
them. What is about customers is scoped: tier distributions, the matrix of a run and its drill-down are
counted over ``visible_to(user)`` rows, so a manager sees the movement of his team's customers only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.http import Http404
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from steelyard.core.filters import ListFilter
from steelyard.core.scopes import user_scope
from steelyard.tiering.models import (
    Assessment,
    AssessmentRun,
    CustomerTier,
    RunStatus,
    Tier,
    TierModel,
)

#: The query value for "no tier" (customers assessed for the first time, or not tiered).
NONE_TOKEN = "~"
NO_TIER_LABEL = _("No tier")


def _pk(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404("No such record.")


# --- models -----------------------------------------------------------------------------------------


def tier_model_list(*, user: Any) -> QuerySet[TierModel]:
    """Every tier model (the global ones first), with its last run's id, time and status."""
    last = AssessmentRun.objects.filter(model=OuterRef("pk")).order_by("-started_at", "-id")
    return (
        TierModel.objects.select_related("product_line")
        .annotate(
            last_run_id=Subquery(last.values("id")[:1]),
            last_run_at=Subquery(last.values("started_at")[:1]),
            last_run_status=Subquery(last.values("status")[:1]),
            last_run_changed=Subquery(last.values("changed")[:1]),
            tier_count=Count("tiers", distinct=True),
            factor_count=Count("factors", distinct=True),
        )
        .order_by(
            F("product_line__sort_order").asc(nulls_first=True),
            "product_line__code",
            "-is_active",
            "code",
        )
    )


def tier_model_get(*, user: Any, pk: Any) -> TierModel:
    model = TierModel.objects.select_related("product_line").filter(pk=_pk(pk)).first()
    if model is None:
        raise Http404("No such tier model.")
    return model


def tiers_by_model(model_ids: list[int]) -> dict[int, list[Tier]]:
    out: dict[int, list[Tier]] = {pk: [] for pk in model_ids}
    for t in Tier.objects.filter(model_id__in=model_ids).order_by("model_id", "rank"):
        out.setdefault(t.model_id, []).append(t)
    return out


def tier_distribution(*, user: Any, model_ids: list[int]) -> dict[int, dict[str, int]]:
    """``{model id: {tier code: customers}}`` over the customers the user can see (one GROUP BY)."""
    out: dict[int, dict[str, int]] = {pk: {} for pk in model_ids}
    rows = (
        CustomerTier.objects.visible_to(user)
        .filter(model_id__in=model_ids)
        .values("model_id", "tier")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        out.setdefault(row["model_id"], {})[row["tier"]] = row["n"]
    return out


# --- runs ---------------------------------------------------------------------------------------------


class RunFilter(ListFilter):
    """Runs by model and status, newest first."""

    model = forms.ModelChoiceField(
        label=_("Model"), queryset=TierModel.objects.none(), required=False, empty_label=_("All models")
    )
    status = forms.ChoiceField(
        label=_("Status"), choices=[("", _("All statuses")), *RunStatus.choices], required=False
    )

    sort_fields = {"started": ("started_at",), "changed": ("changed",), "as_of": ("as_of",)}
    default_sort = "-started"

    def __init__(self, data: Any = None, *, user: Any = None, **kwargs: Any) -> None:
        super().__init__(data, user=user, **kwargs)
        self.fields["model"].queryset = TierModel.objects.order_by("code")  # type: ignore[attr-defined]

    def filter_queryset(self, queryset: QuerySet, data: dict[str, Any]) -> QuerySet:
        if data.get("model"):
            queryset = queryset.filter(model=data["model"])
        if data.get("status"):
            queryset = queryset.filter(status=data["status"])
        return queryset


def assessment_run_list(*, user: Any, filters: Mapping[str, Any] | None = None) -> QuerySet[AssessmentRun]:
    qs = AssessmentRun.objects.select_related("model", "model__product_line", "triggered_by")
    return RunFilter(filters or {}, user=user).apply(qs)


def assessment_run_get(*, user: Any, pk: Any) -> AssessmentRun:
    run = (
        AssessmentRun.objects.select_related("model", "model__product_line", "triggered_by", "job")
        .filter(pk=_pk(pk))
        .first()
    )
    if run is None:
        raise Http404("No such run.")
    return run


# --- the migration matrix ------------------------------------------------------------------------------


@dataclass
class MatrixCell:
    count: int
    url: str
    changed: bool


@dataclass
class MatrixRow:
    code: str
    label: str
    cells: list[MatrixCell]
    total: int


@dataclass
class Matrix:
    """From (previous tier, rows) × to (new tier, columns), counted over the visible customers."""

    columns: list[tuple[str, str]]  # (code, label)
    rows: list[MatrixRow]
    column_totals: list[int]
    total: int
    changed: int
    scoped: bool  # counted over a part of the customers (the viewer's scope)
    as_dict: dict[str, dict[str, int]] = field(default_factory=dict)


def tier_labels(model: TierModel, *, english: bool = False) -> dict[str, str]:
    labels = {"": str(NO_TIER_LABEL)}
    for t in Tier.objects.filter(model=model).order_by("rank"):
        labels[t.code] = (t.name_en or t.name) if english else t.name
    return labels


def _ordered_codes(model: TierModel, seen: set[str]) -> list[str]:
    codes = list(Tier.objects.filter(model=model).order_by("rank").values_list("code", flat=True))
    extra = sorted(c for c in seen if c and c not in codes)  # tiers since removed from the model
    return [*codes, *extra]


def run_migration_counts(*, user: Any, run: AssessmentRun) -> dict[str, dict[str, int]]:
    """``{from: {to: customers}}`` over the run's assessments the user can see (one GROUP BY)."""
    rows = (
        Assessment.objects.visible_to(user)
        .filter(run=run)
        .values("previous_tier", "tier")
        .annotate(n=Count("id"))
        .order_by()
    )
    out: dict[str, dict[str, int]] = {}
    for row in rows:
        out.setdefault(row["previous_tier"] or "", {})[row["tier"] or ""] = row["n"]
    return out


def cell_url(run: AssessmentRun, from_code: str | None, to_code: str | None) -> str:
    params = {}
    if from_code is not None:
        params["from"] = from_code or NONE_TOKEN
    if to_code is not None:
        params["to"] = to_code or NONE_TOKEN
    base = reverse("tier_run_customers", args=[run.pk])
    return f"{base}?{urlencode(params)}" if params else base


def run_matrix(*, user: Any, run: AssessmentRun, english: bool = False) -> Matrix:
    counts = run_migration_counts(user=user, run=run)
    labels = tier_labels(run.model, english=english)
    seen = set(counts) | {to for row in counts.values() for to in row}
    codes = _ordered_codes(run.model, seen)
    from_codes = [*codes, ""] if "" in counts else codes
    for code in seen:
        labels.setdefault(code, code)
    rows = []
    col_totals = [0] * len(codes)
    total = changed = 0
    for f in from_codes:
        cells = []
        row_total = 0
        for j, t in enumerate(codes):
            n = counts.get(f, {}).get(t, 0)
            cells.append(MatrixCell(count=n, url=cell_url(run, f, t), changed=f != t))
            row_total += n
            col_totals[j] += n
            if f != t:
                changed += n
        total += row_total
        rows.append(MatrixRow(code=f, label=labels[f], cells=cells, total=row_total))
    scope = user_scope(user)
    return Matrix(
        columns=[(c, labels[c]) for c in codes],
        rows=rows,
        column_totals=col_totals,
        total=total,
        changed=changed,
        scoped=scope is not None and scope != "all",
        as_dict=counts,
    )


def matrix_from_counts(
    model: TierModel | None, counts: Mapping[str, Mapping[str, int]], *, english: bool = False
) -> Matrix:
    """The same table for a preview's ``migration`` (no links)."""
    labels = (
        tier_labels(model, english=english) if model is not None and model.pk else {"": str(NO_TIER_LABEL)}
    )
    seen = set(counts) | {to for row in counts.values() for to in row}
    codes = _ordered_codes(model, seen) if model is not None and model.pk else sorted(c for c in seen if c)
    for code in seen:
        labels.setdefault(code, code)
    from_codes = [*codes, ""] if "" in counts else codes
    rows = []
    col_totals = [0] * len(codes)
    total = changed = 0
    for f in from_codes:
        cells = []
        row_total = 0
        for j, t in enumerate(codes):
            n = int(counts.get(f, {}).get(t, 0))
            cells.append(MatrixCell(count=n, url="", changed=f != t))
            row_total += n
            col_totals[j] += n
            if f != t:
                changed += n
        total += row_total
        rows.append(MatrixRow(code=f, label=labels[f], cells=cells, total=row_total))
    return Matrix(
        columns=[(c, labels[c]) for c in codes],
        rows=rows,
        column_totals=col_totals,
        total=total,
        changed=changed,
        scoped=False,
        as_dict={k: dict(v) for k, v in counts.items()},
    )


# --- the customers of a cell ---------------------------------------------------------------------------


class RunCustomerFilter(ListFilter):
    """The assessments of one run: from / to tier (``~`` = no tier), changed only, customer search."""

    q = forms.CharField(label=_("Customer"), required=False, max_length=100)
    from_tier = forms.CharField(label=_("From tier"), required=False, max_length=20)
    to_tier = forms.CharField(label=_("To tier"), required=False, max_length=20)
    changed = forms.BooleanField(label=_("Changed tier only"), required=False)

    sort_fields = {"customer": ("customer__legal_name",), "score": ("score",)}
    default_sort = "-score"

    def __init__(self, data: Any = None, *, user: Any = None, **kwargs: Any) -> None:
        # The page's links say ?from=…&to=…; the form fields cannot be called "from".
        if data is not None and hasattr(data, "get"):
            data = {k: (data.getlist(k) if hasattr(data, "getlist") else data[k]) for k in data}
            data = {k: (v[-1] if isinstance(v, list) and v else v) for k, v in data.items()}
            if "from" in data:
                data.setdefault("from_tier", data.pop("from"))
            if "to" in data:
                data.setdefault("to_tier", data.pop("to"))
        super().__init__(data, user=user, **kwargs)
        for name in ("from_tier", "to_tier"):
            self.fields[name].widget = forms.HiddenInput()

    def filter_queryset(self, queryset: QuerySet, data: dict[str, Any]) -> QuerySet:
        if data.get("from_tier"):
            value = data["from_tier"]
            queryset = queryset.filter(previous_tier="" if value == NONE_TOKEN else value)
        if data.get("to_tier"):
            value = data["to_tier"]
            queryset = queryset.filter(tier="" if value == NONE_TOKEN else value)
        if data.get("changed"):
            queryset = queryset.exclude(previous_tier=F("tier"))
        if data.get("q"):
            q = data["q"].strip()
            queryset = queryset.filter(
                Q(customer__legal_name__icontains=q)
                | Q(customer__short_name__icontains=q)
                | Q(customer__pinyin_initials__icontains=q)
            )
        return queryset


def run_assessments(
    *, user: Any, run: AssessmentRun, filters: Mapping[str, Any] | None = None
) -> QuerySet[Assessment]:
    """The run's assessments the user can see, filtered by :class:`RunCustomerFilter`."""
    qs = (
        Assessment.objects.visible_to(user)
        .filter(run=run)
        .select_related("customer", "customer__owner", "customer__org_unit")
    )
    return RunCustomerFilter(filters or {}, user=user).apply(qs)
