"""Tier analytics over the API (/api/v1/tiers/analytics/): the page's figures, scoped the same way.

``GET distribution | growth | retention | migration | visits`` take ``model`` (default: the active
global model), ``months`` (3, 6, 12, 24), ``as_of`` (the period's last day, default today), ``unit``
(an org unit the caller can see; not for callers who only see their own records) and, for migration,
``runs`` (1–24). ``GET customers`` is the drill-down: the customers behind one number (``tier``,
``metric``, and ``run`` / ``from_tier`` for a migration), keyset-paginated. Bad parameters answer 422
with field details; no tier model at all answers 404.
"""

# No ``from __future__ import annotations``: ninja resolves the schemas' annotations at runtime.

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import IntegerField, Value
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema

from steelyard.core.api.errors import NOT_FOUND, VALIDATION_ERROR, ApiError
from steelyard.core.api.pagination import KeysetPagination, paginate
from steelyard.tiering.selectors import analytics as sel

router = Router(tags=["tiers"])

MSG_INVALID = _("Some fields are not valid.")
MSG_NO_MODEL = _("No tier model exists yet.")
MSG_NOT_ALLOWED = _("This parameter is not available to you.")


# --- parameters ---------------------------------------------------------------------------------


class AnalyticsParams(Schema):
    model: int | None = Field(None, description="Tier model id; default: the active global model.")
    months: int | None = Field(None, description="Period length in months: 3, 6, 12 or 24 (default 12).")
    as_of: dt.date | None = Field(None, description="Last day of the period (default: today).")
    unit: int | None = Field(None, description="Org unit id; its subtree. Managers and above.")


class MigrationParams(AnalyticsParams):
    runs: int | None = Field(None, description="How many recent assessment runs (1–24, default 6).")


class DrilldownParams(AnalyticsParams):
    tier: str | None = Field(None, max_length=20, description='Tier code; "-" for no tier; empty: all.')
    metric: str | None = Field(
        None, description="Which customers: " + ", ".join(m for m, _l in sel.METRIC_CHOICES)
    )
    run: int | None = Field(None, description="Assessment run id (metric=migration).")
    from_tier: str | None = Field(None, max_length=20, description="Tier before the run (metric=migration).")


def _context(request: HttpRequest, params: Schema, *, drilldown: bool = False) -> tuple[Any, Any]:
    data = {
        k: (v.isoformat() if isinstance(v, dt.date) else str(v))
        for k, v in params.dict().items()
        if v is not None
    }
    ctx, f = (sel.drilldown_context if drilldown else sel.analytics_context)(user=request.user, data=data)
    fields = [{"field": f"query.{k}", "message": str(MSG_NOT_ALLOWED)} for k in data if k not in f.fields]
    for name, errors in f.errors.items():
        fields += [{"field": f"query.{name}", "message": str(e)} for e in errors]
    if fields:
        raise ApiError(422, VALIDATION_ERROR, str(MSG_INVALID), fields)
    if ctx is None:
        raise ApiError(404, NOT_FOUND, str(MSG_NO_MODEL))
    return ctx, f


# --- schemas ----------------------------------------------------------------------------------------


class ModelOut(Schema):
    id: int
    code: str
    name: str


class PeriodOut(Schema):
    start: dt.date
    end: dt.date
    previous_start: dt.date
    previous_end: dt.date
    months: int
    days: int


class FigureOut(Schema):
    model: ModelOut
    period: PeriodOut
    unit_id: int | None


class DistributionTotal(Schema):
    customers: int
    revenue: Decimal


class DistributionRow(DistributionTotal):
    tier: str
    label: str
    customers_pct: Decimal | None
    revenue_pct: Decimal | None


class DistributionOut(FigureOut):
    tiers: list[DistributionRow]
    total: DistributionTotal


class GrowthTotal(Schema):
    current: Decimal
    previous: Decimal
    change: Decimal
    growth_pct: Decimal | None


class GrowthRow(GrowthTotal):
    tier: str
    label: str


class GrowthOut(FigureOut):
    tiers: list[GrowthRow]
    total: GrowthTotal


class RetentionTotal(Schema):
    buyers_previous: int
    retained: int
    lost: int
    new: int
    retention_pct: Decimal | None


class RetentionRow(RetentionTotal):
    tier: str
    label: str


class RetentionOut(FigureOut):
    tiers: list[RetentionRow]
    total: RetentionTotal


class VisitsTotal(Schema):
    customers: int
    planned: int
    required: Decimal
    done: int
    done_pct: Decimal | None
    behind: int


class VisitsRow(VisitsTotal):
    tier: str
    label: str


class VisitsOut(FigureOut):
    days: int
    tiers: list[VisitsRow]
    total: VisitsTotal


class TierLabel(Schema):
    tier: str
    label: str


class TierCount(Schema):
    tier: str
    customers: int


class Flow(Schema):
    from_tier: str
    to_tier: str
    customers: int


class RunOut(Schema):
    id: int
    as_of: dt.date
    customers: int
    changed: int
    counts: list[TierCount]
    flows: list[Flow]


class MigrationOut(FigureOut):
    source: str = Field(
        ..., description='"runs": the runs\' stored matrix; "assessments": your customers only.'
    )
    tiers: list[TierLabel]
    runs: list[RunOut]


class DrilldownRow(Schema):
    id: int
    legal_name: str
    short_name: str
    tier: str
    owner_id: int | None
    org_unit_id: int | None
    revenue: Decimal
    revenue_previous: Decimal
    revenue_change: Decimal
    visits_done: int
    visit_frequency: int | None
    visits_required: Decimal | None

    @staticmethod
    def resolve_tier(obj: Any) -> str:
        return obj.tier_key or ""

    @staticmethod
    def resolve_revenue(obj: Any) -> Decimal:
        return sel.cents(obj.revenue)

    @staticmethod
    def resolve_revenue_previous(obj: Any) -> Decimal:
        return sel.cents(obj.revenue_previous)

    @staticmethod
    def resolve_revenue_change(obj: Any) -> Decimal:
        return sel.cents(obj.revenue_change)

    @staticmethod
    def resolve_visits_required(obj: Any) -> Decimal | None:
        return sel.required_visits(obj, obj.period_days)


# --- routes ---------------------------------------------------------------------------------------------


@router.get("/distribution", response=DistributionOut)
def distribution(request: HttpRequest, params: Query[AnalyticsParams]):  # type: ignore[no-untyped-def]
    """Customers and revenue (this period) per tier, and each tier's share: the big-customer contribution."""
    ctx, _f = _context(request, params)
    return sel.tier_distribution(ctx)


@router.get("/growth", response=GrowthOut)
def growth(request: HttpRequest, params: Query[AnalyticsParams]):  # type: ignore[no-untyped-def]
    """Revenue this period vs the previous period per (current) tier."""
    ctx, _f = _context(request, params)
    return sel.tier_growth(ctx)


@router.get("/retention", response=RetentionOut)
def retention(request: HttpRequest, params: Query[AnalyticsParams]):  # type: ignore[no-untyped-def]
    """Of the customers who bought in the previous period, how many bought again, per tier."""
    ctx, _f = _context(request, params)
    return sel.tier_retention(ctx)


@router.get("/migration", response=MigrationOut)
def migration(request: HttpRequest, params: Query[MigrationParams]):  # type: ignore[no-untyped-def]
    """Tier counts and the from → to matrix of the last assessment runs."""
    ctx, _f = _context(request, params)
    return sel.tier_migration(ctx)


@router.get("/visits", response=VisitsOut)
def visits(request: HttpRequest, params: Query[AnalyticsParams]):  # type: ignore[no-untyped-def]
    """Visits required (period days / frequency) and done per tier."""
    ctx, _f = _context(request, params)
    return sel.tier_visits(ctx)


@router.get("/customers", response=list[DrilldownRow])
@paginate(KeysetPagination, ordering=("-revenue", "-id"))
def customers(request: HttpRequest, params: Query[DrilldownParams]):  # type: ignore[no-untyped-def]
    """The customers behind one number of the figures above (scoped like them), by revenue."""
    ctx, f = _context(request, params, drilldown=True)
    valid = f.valid_data
    metric = valid.get("metric") or sel.M_CUSTOMERS
    run = sel.drilldown_run(ctx, valid.get("run"))
    if metric == sel.M_MIGRATION and run is None:
        raise ApiError(
            422, VALIDATION_ERROR, str(MSG_INVALID), [{"field": "query.run", "message": str(sel.ERR_NO_RUN)}]
        )
    qs = sel.drilldown_customers(
        ctx,
        tier=sel.tier_param(valid.get("tier")),
        metric=metric,
        run=run,
        from_tier=sel.tier_param(valid.get("from_tier")),
    )
    return qs.annotate(period_days=Value(ctx.period.days, output_field=IntegerField()))
