"""Tier analytics: who is in which tier, what they bring, how they grow, stay, move and get visited.

Every figure is computed by the database (GROUP BY per tier, correlated sub-selects, ``EXISTS``),
never by looping over customers in Python, and is scoped to the viewer: the base is
``Customer.objects.visible_to(user)`` (live customers only), optionally narrowed to an org unit's
subtree. A rep sees their own customers' analytics, a manager their team's, a director their
subtree's, administrators and executives everyone's.

Terms
- **Model**: the :class:`TierModel` analysed (default: the active global model). A customer's tier
  under the global model is ``Customer.tier`` (the one the strategy menu, pool and visit plans use);
  under a product-line model it is its :class:`CustomerTier` row. No tier is ``""`` (``-`` in URLs).
- **Period**: ``months`` months ending on ``end`` (inclusive); the *previous period* is the same
  length just before it. Defaults: 12 months to today, so "revenue" is trailing-12-month revenue.
- **Revenue**: the amount of orders that are not cancelled, by order date (``SalesOrder.amount``;
  for a product-line model, the amount of that line's order lines).
- **Growth**: revenue this period vs the previous period per tier, by the customers' *current* tier.
- **Retention**: of the customers who bought in the previous period, the share who bought again in
  this period.
- **Migration**: per assessment run (the last ``runs``), the from → to matrix. Viewers who see every
  customer get the run's stored matrix (``AssessmentRun.migration``); scoped viewers get it computed
  from their customers' :class:`Assessment` rows (``previous_tier`` → ``tier``).
- **Visits**: *required* = period days / the customer's required visit frequency, summed per tier
  (customers without a visit plan require none); *done* = completed visits (``kind=visit``,
  ``status=done``) that happened in the period. The frequency comes from
  ``customers.selectors.activities.visit_frequency_for`` — called once per distinct
  (tier, own frequency) pair, never per customer — so whatever decides it there (the customer's
  own frequency, the strategy menu) decides it here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from typing import Any

from dateutil.relativedelta import relativedelta
from django import forms
from django.db.models import (
    Case,
    CharField,
    Count,
    DateTimeField,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from steelyard.core.filters import ListFilter
from steelyard.core.scopes import Scope, user_scope
from steelyard.customers.models import Activity, ActivityKind, ActivityStatus, Customer
from steelyard.orders.models import OrderLine, OrderStatus, SalesOrder
from steelyard.org.models import OrgUnit
from steelyard.tiering.models import Assessment, AssessmentRun, CustomerTier, RunStatus, Tier, TierModel

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
TENTH = Decimal("0.1")
MONEY = DecimalField(max_digits=20, decimal_places=2)

MONTH_CHOICES = (3, 6, 12, 24)
DEFAULT_MONTHS = 12
DEFAULT_RUNS = 6
MAX_RUNS = 24
UNTIERED = ""
UNTIERED_PARAM = "-"

# Drill-down metrics: which customers of a tier a number stands for.
M_CUSTOMERS = "customers"  # every customer of the tier
M_REVENUE = "revenue"  # bought in this period
M_BUYERS = "buyers"  # bought in this period or the previous one (growth)
M_BUYERS_PREV = "buyers_prev"  # bought in the previous period (the retention base)
M_RETAINED = "retained"  # bought in the previous period and again in this one
M_LOST = "lost"  # bought in the previous period, not in this one
M_NEW = "new"  # bought in this period, not in the previous one
M_PLANNED = "planned"  # has a visit plan
M_VISITED = "visited"  # was visited in this period
M_BEHIND = "behind"  # fewer visits done than required
M_MIGRATION = "migration"  # moved from_tier → tier in a run
METRIC_CHOICES = [
    (M_CUSTOMERS, _("Customers")),
    (M_REVENUE, _("Bought in this period")),
    (M_BUYERS, _("Bought in either period")),
    (M_BUYERS_PREV, _("Bought in the previous period")),
    (M_RETAINED, _("Bought again")),
    (M_LOST, _("Did not buy again")),
    (M_NEW, _("New buyers")),
    (M_PLANNED, _("With a visit plan")),
    (M_VISITED, _("Visited")),
    (M_BEHIND, _("Behind on visits")),
    (M_MIGRATION, _("Moved between tiers")),
]
METRIC_LABELS = dict(METRIC_CHOICES)

EARLIEST = dt.date(1990, 1, 1)
LATEST = dt.date(2100, 12, 31)

LABEL_UNTIERED = _("No tier")
ERR_AS_OF_RANGE = _("Choose a day between %(earliest)s and %(latest)s.")
ERR_NO_RUN = _("Choose an assessment run of this model.")


# --- period and filters -----------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """``months`` months ending on ``end`` (inclusive), and the previous period of the same length."""

    end: dt.date
    months: int = DEFAULT_MONTHS

    @property
    def start(self) -> dt.date:
        return self.end - relativedelta(months=self.months) + dt.timedelta(days=1)

    @property
    def previous_start(self) -> dt.date:
        return self.start - relativedelta(months=self.months)

    @property
    def previous_end(self) -> dt.date:
        return self.start - dt.timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "previous_start": self.previous_start,
            "previous_end": self.previous_end,
            "months": self.months,
            "days": self.days,
        }


class AnalyticsFilter(ListFilter):
    """Model, period (months to a day), org unit (viewers beyond their own records) and runs shown."""

    model = forms.ModelChoiceField(
        label=_("Tier model"), queryset=TierModel.objects.none(), required=False, empty_label=None
    )
    months = forms.TypedChoiceField(
        label=_("Period"),
        coerce=int,
        required=False,
        choices=[
            (3, _("Last 3 months")),
            (6, _("Last 6 months")),
            (12, _("Last 12 months")),
            (24, _("Last 24 months")),
        ],
    )
    as_of = forms.DateField(label=_("Up to"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    unit: forms.ModelChoiceField = forms.ModelChoiceField(
        label=_("Org unit"), queryset=OrgUnit.objects.none(), required=False, empty_label=_("All I can see")
    )
    runs = forms.IntegerField(
        label=_("Assessment runs shown"), required=False, min_value=1, max_value=MAX_RUNS
    )

    def __init__(self, data: Any = None, *, user: Any = None, **kwargs: Any) -> None:
        self.raw = data or {}
        super().__init__(_with_defaults(self.raw), user=user, **kwargs)
        self.fields["model"].queryset = TierModel.objects.select_related(  # type: ignore[attr-defined]
            "product_line"
        ).order_by("-is_active", "product_line__sort_order", "code")
        if user_scope(user) in (None, Scope.OWN):
            del self.fields["unit"]
        else:
            units = OrgUnit.objects.visible_to(user).only("id", "name", "depth", "path")  # type: ignore[attr-defined]
            self.fields["unit"].queryset = units.order_by("path")  # type: ignore[attr-defined]
            self.fields["unit"].label_from_instance = lambda u: f"{'— ' * u.depth}{u.name}"  # type: ignore[attr-defined]
        self.fields["runs"].widget.attrs.update({"min": 1, "max": MAX_RUNS, "placeholder": DEFAULT_RUNS})

    def clean_as_of(self) -> dt.date | None:
        day = self.cleaned_data.get("as_of")
        if day is not None and not (EARLIEST <= day <= LATEST):
            raise forms.ValidationError(
                ERR_AS_OF_RANGE % {"earliest": EARLIEST.isoformat(), "latest": LATEST.isoformat()}
            )
        return day

    @property
    def is_filtered(self) -> bool:
        return any(self.raw.get(k) for k in self.fields if k != "sort")


def _with_defaults(data: Any) -> Any:
    """The query with the defaults filled in, so the form shows what the figures are computed for."""
    filled = data.copy() if hasattr(data, "copy") else dict(data)
    if not filled.get("months"):
        filled["months"] = str(DEFAULT_MONTHS)
    if not filled.get("as_of"):
        filled["as_of"] = timezone.localdate().isoformat()
    if not filled.get("model"):
        model = default_model()
        if model is not None:
            filled["model"] = str(model.pk)
    return filled


class DrilldownFilter(AnalyticsFilter):
    """The analytics filters plus which number was clicked: tier, metric, and for migration the run."""

    tier = forms.CharField(label=_("Tier"), required=False, max_length=20, widget=forms.HiddenInput)
    metric = forms.ChoiceField(label=_("Show"), required=False, choices=METRIC_CHOICES)
    run = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    from_tier = forms.CharField(required=False, max_length=20, widget=forms.HiddenInput)

    sort_fields = {
        "name": ("legal_name",),
        "revenue": ("revenue",),
        "previous": ("revenue_previous",),
        "change": ("revenue_change",),
        "visits": ("visits_done",),
    }
    default_sort = "-revenue"

    def __init__(self, data: Any = None, *, user: Any = None, **kwargs: Any) -> None:
        super().__init__(data, user=user, **kwargs)
        del self.fields["runs"]


def default_model() -> TierModel | None:
    """The active global model, else any active model, else the newest model."""
    return (
        TierModel.objects.filter(is_active=True)
        .order_by("product_line_id", "code")
        .select_related("product_line")
        .first()
        or TierModel.objects.select_related("product_line").order_by("-id").first()
    )


# --- the context every figure is computed in -------------------------------------------------------


@dataclass(frozen=True)
class TierInfo:
    code: str
    label: str
    rank: int


@dataclass(frozen=True)
class RevenueSource:
    """Where revenue comes from: the rows, their amount, their date and their customer."""

    rows: QuerySet
    amount: str
    date: str
    customer: str  # path to the customer ("customer", "order__customer")


class AnalyticsContext:
    """A viewer, a model, a period and an optional org unit; figures are cached per instance.

    Build it with :func:`analytics_context`. Every selector below takes one, so a page computing
    several figures shares the scoped base and the revenue GROUP BY.
    """

    def __init__(
        self,
        *,
        user: Any,
        model: TierModel,
        period: Period,
        unit: OrgUnit | None = None,
        runs: int = DEFAULT_RUNS,
    ) -> None:
        self.user = user
        self.model = model
        self.period = period
        self.unit = unit
        self.runs = max(1, min(int(runs), MAX_RUNS))

    # --- scope --------------------------------------------------------------------------------

    @cached_property
    def customers(self) -> QuerySet[Customer]:
        """Live customers the viewer sees (within the org unit when one is chosen)."""
        qs = Customer.objects.visible_to(self.user).filter(merged_into__isnull=True)
        if self.unit is not None:
            qs = qs.filter(org_unit__path__startswith=self.unit.path)
        return qs

    @cached_property
    def unrestricted(self) -> bool:
        """True when the viewer sees every customer and no org unit narrows the figures."""
        return self.unit is None and user_scope(self.user) == Scope.ALL

    @property
    def is_global(self) -> bool:
        return self.model.product_line_id is None

    def tier_expr(self, customer_path: str = "") -> Any:
        """The customer's tier under the model, for a row that is (``""``) or points to a customer."""
        if self.is_global:
            return F(f"{customer_path}__tier" if customer_path else "tier")
        ref = OuterRef(f"{customer_path}_id" if customer_path else "pk")
        sub = CustomerTier.objects.filter(model_id=self.model.pk, customer_id=ref).values("tier")[:1]
        return Coalesce(Subquery(sub, output_field=CharField()), Value(UNTIERED), output_field=CharField())

    def tier_q(self, code: str) -> Q:
        """Customers whose tier under the model is ``code``."""
        if self.is_global:
            return Q(tier=code)
        has = CustomerTier.objects.filter(model_id=self.model.pk, customer_id=OuterRef("pk"))
        if code == UNTIERED:
            return ~Q(Exists(has.exclude(tier=UNTIERED)))
        return Q(Exists(has.filter(tier=code)))

    # --- tiers --------------------------------------------------------------------------------

    @cached_property
    def tiers(self) -> list[TierInfo]:
        english = (get_language() or "").startswith("en")
        return [
            TierInfo(t.code, (t.name_en if english and t.name_en else t.name), t.rank)
            for t in Tier.objects.filter(model=self.model).order_by("rank")
        ]

    def label(self, code: str) -> str:
        if code == UNTIERED:
            return str(LABEL_UNTIERED)
        for t in self.tiers:
            if t.code == code:
                return t.label
        return code

    def ordered(self, seen: Iterable[str] = ()) -> list[str]:
        """The model's tiers best first, then tiers no longer in the model, then no tier (when seen)."""
        known = [t.code for t in self.tiers]
        seen = set(seen)
        extra = sorted(c for c in seen if c not in known and c != UNTIERED)
        return known + extra + ([UNTIERED] if UNTIERED in seen else [])

    # --- revenue --------------------------------------------------------------------------------

    @cached_property
    def revenue_source(self) -> RevenueSource:
        if self.is_global:
            rows = SalesOrder.objects.exclude(status=OrderStatus.CANCELLED)
            return RevenueSource(rows, "amount", "ordered_on", "customer")
        rows = OrderLine.objects.filter(product__product_line_id=self.model.product_line_id).exclude(
            order__status=OrderStatus.CANCELLED
        )
        return RevenueSource(rows, "amount", "order__ordered_on", "order__customer")

    def revenue_rows(self, start: dt.date, end: dt.date, *, customer: Any = None) -> QuerySet:
        """Revenue rows dated ``start``–``end``; of ``customer`` (an id or ``OuterRef``) or of the scope."""
        src = self.revenue_source
        rows = src.rows.filter(**{f"{src.date}__gte": start, f"{src.date}__lte": end})
        if customer is not None:
            return rows.filter(**{f"{src.customer}_id": customer})
        return rows.filter(**{f"{src.customer}_id__in": self.customers.values("pk")})

    def revenue_expr(self, start: dt.date, end: dt.date) -> Any:
        """The outer customer's revenue dated ``start``–``end`` (a correlated SUM, 0 when none)."""
        src = self.revenue_source
        cid = f"{src.customer}_id"
        sub = (
            self.revenue_rows(start, end, customer=OuterRef("pk"))
            .order_by()
            .values(cid)
            .annotate(s=Sum(src.amount))
            .values("s")
        )
        return Coalesce(Subquery(sub, output_field=MONEY), Value(ZERO), output_field=MONEY)

    def bought(self, start: dt.date, end: dt.date) -> Exists:
        return Exists(self.revenue_rows(start, end, customer=OuterRef("pk")))

    @cached_property
    def revenue_by_tier(self) -> dict[str, tuple[Decimal, Decimal]]:
        """``{tier: (revenue this period, revenue previous period)}`` in one GROUP BY."""
        p, src = self.period, self.revenue_source
        current = Q(**{f"{src.date}__gte": p.start})
        rows = (
            self.revenue_rows(p.previous_start, p.end)
            .annotate(t=self.tier_expr(src.customer))
            .order_by()
            .values("t")
            .annotate(
                cur=Sum(src.amount, filter=current, output_field=MONEY),
                prev=Sum(src.amount, filter=~current, output_field=MONEY),
            )
        )
        return {r["t"] or UNTIERED: (cents(r["cur"]), cents(r["prev"])) for r in rows}

    @cached_property
    def customers_by_tier(self) -> dict[str, int]:
        rows = self.customers.annotate(t=self.tier_expr()).order_by().values("t").annotate(n=Count("pk"))
        return {r["t"] or UNTIERED: r["n"] for r in rows}

    # --- visits ---------------------------------------------------------------------------------

    def visit_window(self) -> tuple[dt.datetime, dt.datetime]:
        tz = timezone.get_current_timezone()
        start = dt.datetime.combine(self.period.start, dt.time.min, tzinfo=tz)
        end = dt.datetime.combine(self.period.end + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        return start, end

    def visits_done_expr(self) -> Any:
        """Completed visits to the outer customer in the period (a correlated COUNT, 0 when none)."""
        start, end = self.visit_window()
        sub = (
            Activity.objects.filter(
                customer_id=OuterRef("pk"), kind=ActivityKind.VISIT, status=ActivityStatus.DONE
            )
            .annotate(at=Coalesce("occurred_at", "planned_at", "created_at", output_field=DateTimeField()))
            .filter(at__gte=start, at__lt=end)
            .order_by()
            .values("customer_id")
            .annotate(c=Count("pk"))
            .values("c")
        )
        return Coalesce(Subquery(sub, output_field=IntegerField()), Value(0), output_field=IntegerField())

    @cached_property
    def visit_pairs(self) -> list[dict[str, Any]]:
        """Customers counted per (tier under the model, customer tier, own frequency), with one example."""
        rows = (
            self.customers.annotate(t=self.tier_expr())
            .order_by()
            .values("t", "tier", "visit_every_days")
            .annotate(n=Count("pk"), example=Min("pk"))
        )
        return [dict(r) for r in rows]

    @cached_property
    def frequencies(self) -> dict[tuple[str, int | None], int | None]:
        """Required days between visits per (customer tier, own frequency), from the customers module."""
        from steelyard.customers.selectors.activities import visit_frequency_for
        from steelyard.tiering.selectors.strategy import strategy_cache

        examples: dict[tuple[str, int | None], int] = {}
        for row in self.visit_pairs:
            examples.setdefault((row["tier"], row["visit_every_days"]), row["example"])
        customers = Customer.objects.in_bulk(list(examples.values()))
        out: dict[tuple[str, int | None], int | None] = {}
        with strategy_cache():  # the menu in force is read once for all the pairs
            for key, pk in examples.items():
                freq = visit_frequency_for(customers[pk]) if pk in customers else None
                out[key] = freq if freq and freq > 0 else None
        return out

    def frequency_expr(self) -> Any:
        """The outer customer's required visit frequency (days), from :attr:`frequencies`."""
        whens = []
        for (tier, own), freq in self.frequencies.items():
            if freq is None:
                continue
            own_q = Q(visit_every_days__isnull=True) if own is None else Q(visit_every_days=own)
            whens.append(When(Q(tier=tier) & own_q, then=Value(freq)))
        if not whens:
            return Value(None, output_field=IntegerField())
        return Case(*whens, default=Value(None), output_field=IntegerField())

    def behind_q(self) -> Q:
        """Customers (annotated with visit_frequency and visits_done) with fewer visits than required."""
        return Q(visit_frequency__isnull=False, visits_needed__gt=F("visits_done_days"))


def analytics_context(
    *, user: Any, data: Mapping[str, Any] | None = None
) -> tuple[AnalyticsContext | None, Any]:
    """The context for ``data`` (query parameters) and the bound filter form.

    Invalid fields fall back to their defaults (the form shows why). None when no tier model exists.
    """
    f = AnalyticsFilter(data or {}, user=user)
    return _context_from(f, user), f


def drilldown_context(
    *, user: Any, data: Mapping[str, Any] | None = None
) -> tuple[AnalyticsContext | None, Any]:
    f = DrilldownFilter(data or {}, user=user)
    return _context_from(f, user), f


def _context_from(f: AnalyticsFilter, user: Any) -> AnalyticsContext | None:
    valid = f.valid_data
    model = valid.get("model") or default_model()
    if model is None:
        return None
    period = Period(
        end=valid.get("as_of") or timezone.localdate(), months=valid.get("months") or DEFAULT_MONTHS
    )
    return AnalyticsContext(
        user=user, model=model, period=period, unit=valid.get("unit"), runs=valid.get("runs") or DEFAULT_RUNS
    )


# --- figures ------------------------------------------------------------------------------------------


def cents(value: Any) -> Decimal:
    """An amount rounded to cents (SQLite hands sums back without their scale)."""
    return Decimal(value if value is not None else 0).quantize(CENT)


def pct(part: Any, whole: Any) -> Decimal | None:
    """``part`` as a percentage of ``whole``, to one decimal (half up); None when ``whole`` is 0."""
    whole = Decimal(whole or 0)
    if not whole:
        return None
    return (Decimal(part or 0) * 100 / whole).quantize(TENTH, rounding=ROUND_HALF_UP)


def _meta(ctx: AnalyticsContext) -> dict[str, Any]:
    return {
        "model": {"id": ctx.model.pk, "code": ctx.model.code, "name": ctx.model.name},
        "period": ctx.period.as_dict(),
        "unit_id": ctx.unit.pk if ctx.unit else None,
    }


def tier_distribution(ctx: AnalyticsContext) -> dict[str, Any]:
    """Customers and revenue (this period) per tier, and each tier's share of the totals."""
    counts, revenue = ctx.customers_by_tier, ctx.revenue_by_tier
    total_n = sum(counts.values())
    total_rev = sum((cur for cur, _prev in revenue.values()), ZERO)
    rows = []
    for code in ctx.ordered(set(counts) | set(revenue)):
        n = counts.get(code, 0)
        rev = revenue.get(code, (ZERO, ZERO))[0]
        rows.append(
            {
                "tier": code,
                "label": ctx.label(code),
                "customers": n,
                "customers_pct": pct(n, total_n),
                "revenue": rev,
                "revenue_pct": pct(rev, total_rev),
            }
        )
    return {**_meta(ctx), "tiers": rows, "total": {"customers": total_n, "revenue": total_rev}}


def tier_growth(ctx: AnalyticsContext) -> dict[str, Any]:
    """Revenue this period vs the previous period per (current) tier."""
    revenue = ctx.revenue_by_tier
    rows = []
    tot_cur = tot_prev = ZERO
    for code in ctx.ordered(revenue):
        cur, prev = revenue.get(code, (ZERO, ZERO))
        tot_cur, tot_prev = tot_cur + cur, tot_prev + prev
        rows.append(_growth_row(code, ctx.label(code), cur, prev))
    return {**_meta(ctx), "tiers": rows, "total": _growth_row(None, "", tot_cur, tot_prev)}


def _growth_row(code: str | None, label: str, cur: Decimal, prev: Decimal) -> dict[str, Any]:
    row = {"current": cur, "previous": prev, "change": cur - prev, "growth_pct": pct(cur - prev, prev)}
    return row if code is None else {"tier": code, "label": label, **row}


def tier_retention(ctx: AnalyticsContext) -> dict[str, Any]:
    """Per tier: who bought in the previous period, how many of them bought again, lost, and new buyers."""
    p = ctx.period
    rows_db = (
        ctx.customers.annotate(
            t=ctx.tier_expr(),
            bp=ctx.bought(p.previous_start, p.previous_end),
            bc=ctx.bought(p.start, p.end),
        )
        .order_by()
        .values("t")
        .annotate(
            prev=Count("pk", filter=Q(bp=True)),
            retained=Count("pk", filter=Q(bp=True, bc=True)),
            new=Count("pk", filter=Q(bp=False, bc=True)),
        )
    )
    found = {r["t"] or UNTIERED: r for r in rows_db}
    rows = []
    tot = {"buyers_previous": 0, "retained": 0, "new": 0}
    for code in ctx.ordered(found):
        r = found.get(code, {"prev": 0, "retained": 0, "new": 0})
        rows.append(_retention_row(code, ctx.label(code), r["prev"], r["retained"], r["new"]))
        tot["buyers_previous"] += r["prev"]
        tot["retained"] += r["retained"]
        tot["new"] += r["new"]
    total = _retention_row(None, "", tot["buyers_previous"], tot["retained"], tot["new"])
    return {**_meta(ctx), "tiers": rows, "total": total}


def _retention_row(code: str | None, label: str, prev: int, retained: int, new: int) -> dict[str, Any]:
    row = {
        "buyers_previous": prev,
        "retained": retained,
        "lost": prev - retained,
        "new": new,
        "retention_pct": pct(retained, prev),
    }
    return row if code is None else {"tier": code, "label": label, **row}


def tier_visits(ctx: AnalyticsContext) -> dict[str, Any]:
    """Per tier: customers, those with a visit plan, visits required in the period, done, and behind."""
    days = ctx.period.days
    freqs = ctx.frequencies
    required: dict[str, Decimal] = {}
    for row in ctx.visit_pairs:
        freq = freqs.get((row["tier"], row["visit_every_days"]))
        if freq:
            t = row["t"] or UNTIERED
            required[t] = required.get(t, Decimal(0)) + Decimal(row["n"] * days) / Decimal(freq)
    rows_db = (
        _with_visits(ctx, ctx.customers.annotate(t=ctx.tier_expr()))
        .order_by()
        .values("t")
        .annotate(
            n=Count("pk"),
            planned=Count("pk", filter=Q(visit_frequency__isnull=False)),
            done=Sum("visits_done"),
            behind=Count("pk", filter=ctx.behind_q()),
        )
    )
    found = {r["t"] or UNTIERED: r for r in rows_db}
    empty = {"n": 0, "planned": 0, "done": 0, "behind": 0}
    rows = []
    tot: dict[str, Any] = {"customers": 0, "planned": 0, "required": Decimal(0), "done": 0, "behind": 0}
    for code in ctx.ordered(found):
        r = found.get(code, empty)
        req = required.get(code, Decimal(0))
        row = _visits_row(r["n"], r["planned"], req, r["done"] or 0, r["behind"])
        rows.append({"tier": code, "label": ctx.label(code), **row})
        for k in ("customers", "planned", "done", "behind"):
            tot[k] += row[k]
        tot["required"] += req
    total = _visits_row(tot["customers"], tot["planned"], tot["required"], tot["done"], tot["behind"])
    return {**_meta(ctx), "days": days, "tiers": rows, "total": total}


def _visits_row(n: int, planned: int, required: Decimal, done: int, behind: int) -> dict[str, Any]:
    return {
        "customers": n,
        "planned": planned,
        "required": Decimal(required).quantize(TENTH, rounding=ROUND_HALF_UP),
        "done": done,
        "done_pct": pct(done, required),
        "behind": behind,
    }


def _with_visits(ctx: AnalyticsContext, qs: QuerySet) -> QuerySet:
    """Annotate visits done, the required frequency, and the two sides of "behind" as whole numbers.

    Behind means ``done < days / frequency``, compared as ``days > done × frequency`` so both sides
    stay integers on every database.
    """
    return qs.annotate(
        visits_done=ctx.visits_done_expr(),
        visit_frequency=ctx.frequency_expr(),
    ).annotate(
        visits_done_days=ExpressionWrapper(
            F("visits_done") * F("visit_frequency"), output_field=IntegerField()
        ),
        visits_needed=Value(ctx.period.days, output_field=IntegerField()),
    )


# --- migration -------------------------------------------------------------------------------------


def _norm(code: Any) -> str:
    return str(code) if code not in (None, "None") else UNTIERED


def recent_runs(ctx: AnalyticsContext) -> list[AssessmentRun]:
    """The model's last finished runs, oldest first."""
    runs = list(
        AssessmentRun.objects.filter(model=ctx.model, status=RunStatus.DONE).order_by("-started_at", "-id")[
            : ctx.runs
        ]
    )
    runs.reverse()
    return runs


def tier_migration(ctx: AnalyticsContext) -> dict[str, Any]:
    """Tier counts per run (stacked bars) and the from → to matrix per run (a sankey for the latest)."""
    runs = recent_runs(ctx)
    ids = [r.pk for r in runs]
    counts: dict[int, dict[str, int]] = {pk: {} for pk in ids}
    flows: dict[int, dict[tuple[str, str], int]] = {pk: {} for pk in ids}
    if ids:
        assessments = Assessment.objects.filter(run_id__in=ids)
        if ctx.unrestricted:
            for r in assessments.order_by().values("run_id", "tier").annotate(n=Count("pk")):
                counts[r["run_id"]][_norm(r["tier"])] = r["n"]
            for run in runs:
                for src, targets in (run.migration or {}).items():
                    for dst, n in (targets or {}).items() if isinstance(targets, dict) else ():
                        key = (_norm(src), _norm(dst))
                        flows[run.pk][key] = flows[run.pk].get(key, 0) + int(n or 0)
        else:
            rows = (
                assessments.filter(customer_id__in=ctx.customers.values("pk"))
                .order_by()
                .values("run_id", "previous_tier", "tier")
                .annotate(n=Count("pk"))
            )
            for r in rows:
                src, dst = _norm(r["previous_tier"]), _norm(r["tier"])
                counts[r["run_id"]][dst] = counts[r["run_id"]].get(dst, 0) + r["n"]
                flows[r["run_id"]][(src, dst)] = flows[r["run_id"]].get((src, dst), 0) + r["n"]
    seen: set[str] = set()
    for pk in ids:
        seen |= set(counts[pk])
        for src, dst in flows[pk]:
            seen |= {src, dst}
    order = ctx.ordered(seen)
    out_runs = []
    for run in runs:
        run_flows = sorted(
            flows[run.pk].items(), key=lambda kv: (order.index(kv[0][0]), order.index(kv[0][1]))
        )
        out_runs.append(
            {
                "id": run.pk,
                "as_of": run.as_of,
                "counts": [{"tier": c, "customers": counts[run.pk].get(c, 0)} for c in order],
                "customers": sum(counts[run.pk].values()),
                "changed": sum(n for (s, d), n in flows[run.pk].items() if s != d),
                "flows": [{"from_tier": s, "to_tier": d, "customers": n} for (s, d), n in run_flows],
            }
        )
    return {
        **_meta(ctx),
        "source": "runs" if ctx.unrestricted else "assessments",
        "tiers": [{"tier": c, "label": ctx.label(c)} for c in order],
        "runs": out_runs,
    }


# --- drill-down -------------------------------------------------------------------------------------


def tier_param(value: str | None) -> str | None:
    """A tier from a URL: ``-`` is no tier, empty/None is every tier."""
    if value is None or value == "":
        return None
    return UNTIERED if value == UNTIERED_PARAM else value


def drilldown_customers(
    ctx: AnalyticsContext,
    *,
    tier: str | None = None,
    metric: str = M_CUSTOMERS,
    run: AssessmentRun | None = None,
    from_tier: str | None = None,
) -> QuerySet[Customer]:
    """The customers behind one number: scoped, of ``tier`` (None: all), narrowed by ``metric``.

    Each row carries ``revenue`` / ``revenue_previous`` / ``revenue_change`` (this and the previous
    period), ``visits_done`` and ``visit_frequency`` (days; None without a plan) — all computed in SQL.
    For ``migration``, ``run`` is required and ``from_tier`` (optional) is the tier before the run.
    """
    p = ctx.period
    qs = ctx.customers
    if tier is not None and metric != M_MIGRATION:
        qs = qs.filter(ctx.tier_q(tier))
    if metric == M_MIGRATION:
        if run is None:
            qs = qs.none()  # still annotated below, so callers may sort it
        moved = Assessment.objects.filter(run=run, customer_id=OuterRef("pk"))
        if tier is not None:
            moved = moved.filter(tier=tier)
        if from_tier is not None:
            moved = moved.filter(previous_tier=from_tier)
        qs = qs.filter(Exists(moved))
    elif metric in (M_REVENUE, M_NEW, M_RETAINED):
        qs = qs.filter(ctx.bought(p.start, p.end))
    elif metric == M_BUYERS:
        qs = qs.filter(ctx.bought(p.previous_start, p.end))
    if metric in (M_BUYERS_PREV, M_RETAINED, M_LOST):
        qs = qs.filter(ctx.bought(p.previous_start, p.previous_end))
    if metric == M_LOST:
        qs = qs.exclude(ctx.bought(p.start, p.end))
    elif metric == M_NEW:
        qs = qs.exclude(ctx.bought(p.previous_start, p.previous_end))
    qs = _with_visits(
        ctx,
        qs.annotate(
            tier_key=ctx.tier_expr(),
            revenue=ctx.revenue_expr(p.start, p.end),
            revenue_previous=ctx.revenue_expr(p.previous_start, p.previous_end),
        ).annotate(revenue_change=F("revenue") - F("revenue_previous")),
    )
    if metric == M_PLANNED:
        qs = qs.filter(Q(visit_frequency__isnull=False))
    elif metric == M_VISITED:
        qs = qs.filter(Q(visits_done__gt=0))
    elif metric == M_BEHIND:
        qs = qs.filter(ctx.behind_q())
    return qs.select_related("owner", "org_unit")


def drilldown_run(ctx: AnalyticsContext, run_id: int | None) -> AssessmentRun | None:
    if not run_id:
        return None
    return AssessmentRun.objects.filter(model=ctx.model, pk=run_id).first()


def required_visits(customer: Any, days: int) -> Decimal | None:
    """Visits a drill-down row requires in ``days`` (from its annotated ``visit_frequency``)."""
    freq = getattr(customer, "visit_frequency", None)
    if not freq:
        return None
    return (Decimal(days) / Decimal(freq)).quantize(TENTH, rounding=ROUND_HALF_UP)
