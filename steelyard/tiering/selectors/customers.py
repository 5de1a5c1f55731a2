"""Reading customers' tiers the way reps and managers meet them; every read is scoped.

- :func:`customer_tier_cards`: the customer page's "Tier" section (per active model: tier, score, since,
  explanation, pending move, override in force, recent assessments).
- :func:`tier_counts`, :func:`tier_customer_list`, :func:`near_threshold`, :func:`pending_moves`: the rep's
  "My customers by tier" screen.
- :func:`review_data`: what a manager has in front of them for a tier review (distribution, revenue per tier,
  migrations of the last runs, overrides in force), computed in SQL within the reviewer's scope.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import (
    Avg,
    Case,
    Count,
    DecimalField,
    F,
    IntegerField,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from steelyard.customers.models import Customer
from steelyard.customers.selectors.customers import customer_base
from steelyard.tiering.models import (
    Assessment,
    AssessmentRun,
    CustomerTier,
    EnteredValue,
    FactorCode,
    OverrideStatus,
    RunStatus,
    StrategyMenu,
    Tier,
    TierModel,
    TierOverride,
    TierReview,
)
from steelyard.tiering.services.overrides import (
    ENTERED_CODES,
    effective_tier,
    effective_tier_expr,
    override_in_force,
)

HISTORY_RUNS = 6
NEAR_WINDOW = Decimal("5")
MIGRATION_RUNS = 3
MONEY = DecimalField(max_digits=18, decimal_places=2)
ZERO = Decimal("0")


# --- models and tiers -------------------------------------------------------------------------------------


def tier_models() -> list[TierModel]:
    """The active tier models (global first) that have tiers, each with its tiers (best first) in one query."""
    models: dict[int, TierModel] = {}
    tiers: dict[int, list[Tier]] = {}
    for tier in (
        Tier.objects.filter(model__is_active=True)
        .select_related("model__product_line")
        .order_by(F("model__product_line__sort_order").asc(nulls_first=True), "model__code", "rank")
    ):
        models.setdefault(tier.model_id, tier.model)
        tiers.setdefault(tier.model_id, []).append(tier)
    for pk, model in models.items():
        model._prefetched_objects_cache = {"tiers": tiers[pk]}  # model.tiers.all() reads these
    return list(models.values())


def tier_model_pick(models: list[TierModel], key: Any = None) -> TierModel | None:
    """The model asked for by code or id among ``models``; else the global one; else the first."""
    if key not in (None, ""):
        for m in models:
            if m.code == str(key) or str(m.pk) == str(key):
                return m
    for m in models:
        if m.product_line_id is None:
            return m
    return models[0] if models else None


def tier_label(tier: Tier | None, code: str = "") -> str:
    """A tier's name in the user's language (the English name when English is on and it has one)."""
    if tier is None:
        return code or _("No tier")
    lang = translation.get_language() or ""
    if lang.startswith("en") and tier.name_en:
        return tier.name_en
    return tier.name


def tiers_by_code(model: TierModel) -> dict[str, Tier]:
    return {t.code: t for t in model.tiers.all()}


def next_tier_up(model: TierModel, code: str) -> Tier | None:
    """The tier directly above ``code`` (one rank better), or None at the top / for no tier."""
    tiers = sorted(model.tiers.all(), key=lambda t: t.rank)
    for i, t in enumerate(tiers):
        if t.code == code:
            return tiers[i - 1] if i > 0 else None
    return None


# --- explanation ------------------------------------------------------------------------------------------


def _fallback_lines(assessment: Assessment) -> list[str]:
    labels = dict(FactorCode.choices)
    lines = []
    for f in assessment.factors or []:
        lines.append(
            _("%(factor)s %(raw)s scores %(points)s/%(weight)s")
            % {
                "factor": labels.get(f.get("code"), f.get("code")),
                "raw": "—" if f.get("raw") is None else f.get("raw"),
                "points": f.get("points"),
                "weight": f.get("weight"),
            }
        )
    return lines


def explain_lines(assessment: Assessment | None) -> list[str]:
    """One line per factor ("Revenue, trailing 12 months 8.2M scores 30/35"), from the engine's ``explain``."""
    if assessment is None:
        return []
    try:
        from steelyard.tiering.services.assessment import explain
    except ImportError:  # the engine is not there: say it from the stored factors
        return _fallback_lines(assessment)
    return list(explain(assessment, language=translation.get_language()))


def explanation_text(tier_name: str, lines: list[str]) -> str:
    """ "重点：近12个月收入 820万 得 30/35 分；毛利率 …" — the tier and why, in one sentence."""
    if not lines:
        return tier_name
    zh = (translation.get_language() or "").startswith("zh")
    return (f"{tier_name}：" + "；".join(lines)) if zh else f"{tier_name}: " + "; ".join(lines)


# --- the customer page ------------------------------------------------------------------------------------


@dataclass
class TierCard:
    """One model's tier of one customer, ready to show."""

    model: TierModel
    ct: CustomerTier | None
    tier_code: str = ""
    tier_name: str = ""
    assessed_name: str = ""
    override: bool = False
    explanation: list[str] = field(default_factory=list)
    explanation_text: str = ""
    pending_name: str = ""
    runs_left: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    gap_up: Decimal | None = None
    up_name: str = ""


def _runs_left(model: TierModel, ct: CustomerTier) -> int:
    return max(int(model.hysteresis_runs) - int(ct.pending_runs), 1)


def customer_tier_cards(*, user: Any, customer: Customer) -> list[TierCard]:
    """The customer's tier under each active model (global first), with explanation and recent history.

    A fixed number of queries whatever the number of models: models, tiers, customer tiers, the latest
    ``HISTORY_RUNS`` assessments under each model — the first is the one explained (plus what the
    engine's ``explain`` reads).
    """
    models = tier_models()
    if not models:
        return []
    today = timezone.localdate()
    cts = {
        ct.model_id: ct
        for ct in CustomerTier.objects.visible_to(user).filter(customer=customer, model__in=models)
    }
    history: dict[int, list[Assessment]] = {}
    rows = (
        Assessment.objects.visible_to(user)
        .filter(customer=customer, run__model__in=models)
        .select_related("run")
        .annotate(nth=Window(RowNumber(), partition_by=[F("run__model_id")], order_by=F("run_id").desc()))
        .filter(nth__lte=HISTORY_RUNS)
        .order_by("-run_id")
    )
    for a in rows:
        bucket = history.setdefault(a.run.model_id, [])
        if len(bucket) < HISTORY_RUNS:
            bucket.append(a)
    cards = []
    for model in models:
        ct = cts.get(model.pk)
        if ct is None and model.product_line_id is not None:
            continue  # a product-line model that never assessed this customer
        tiers = tiers_by_code(model)
        card = TierCard(model=model, ct=ct)
        if ct is not None:
            card.tier_code = effective_tier(ct, today)
            card.tier_name = tier_label(tiers.get(card.tier_code), card.tier_code)
            card.assessed_name = tier_label(tiers.get(ct.tier), ct.tier) if ct.tier else ""
            card.override = override_in_force(ct, today)
            last = history[model.pk][0] if history.get(model.pk) else None
            card.explanation = explain_lines(last)
            card.explanation_text = explanation_text(card.tier_name, card.explanation)
            if ct.pending_tier:
                card.pending_name = tier_label(tiers.get(ct.pending_tier), ct.pending_tier)
                card.runs_left = _runs_left(model, ct)
            up = next_tier_up(model, ct.tier)
            if up is not None and ct.score < up.min_score:
                card.gap_up = up.min_score - ct.score
                card.up_name = tier_label(up)
        for a in history.get(model.pk, []):
            card.history.append(
                {
                    "as_of": a.run.as_of,
                    "score": a.score,
                    "tier": tier_label(tiers.get(a.tier), a.tier),
                    "moved": bool(a.previous_tier) and a.previous_tier != a.tier,
                }
            )
        cards.append(card)
    return cards


def entered_values(*, user: Any, customer: Customer) -> dict[str, EnteredValue]:
    """The values people entered for the customer, by factor code."""
    return {
        v.code: v
        for v in EnteredValue.objects.visible_to(user)
        .filter(customer=customer, code__in=ENTERED_CODES)
        .select_related("entered_by")
    }


def customer_overrides(*, user: Any, customer: Customer, limit: int = 5) -> list[TierOverride]:
    """The customer's latest overrides (pending, in force, closed), newest first."""
    return list(
        TierOverride.objects.visible_to(user)
        .filter(customer=customer)
        .select_related("model", "requested_by")
        .order_by("-created_at", "-id")[:limit]
    )


def assessments_for(*, user: Any, customer: Customer) -> QuerySet[Assessment]:
    """Every assessment of the customer the user may see, newest run first."""
    return Assessment.objects.visible_to(user).filter(customer=customer).select_related("run__model")


# --- the rep's screen -------------------------------------------------------------------------------------


def customer_tier_base(
    *, user: Any, model: TierModel, today: dt.date | None = None
) -> QuerySet[CustomerTier]:
    """The customer tiers of ``model`` the user may see (live customers), with ``eff`` (the tier in force)
    and ``tier_rank`` (1 best; 99 for no tier) annotated."""
    today = today or timezone.localdate()
    ranks = [When(eff=t.code, then=Value(t.rank)) for t in model.tiers.all()]
    return (
        CustomerTier.objects.visible_to(user)
        .filter(model=model, customer__merged_into__isnull=True)
        .annotate(eff=effective_tier_expr(today))
        .annotate(tier_rank=Case(*ranks, default=Value(99), output_field=IntegerField()))
    )


def tier_counts(*, user: Any, model: TierModel) -> dict[str, Any]:
    """Customers per tier in force (best tier first) and how many visible customers have no tier yet."""
    counts = {
        row["eff"]: row["n"]
        for row in customer_tier_base(user=user, model=model).order_by().values("eff").annotate(n=Count("id"))
    }
    tiers = sorted(model.tiers.all(), key=lambda t: t.rank)
    rows = [{"tier": t, "code": t.code, "name": tier_label(t), "count": counts.pop(t.code, 0)} for t in tiers]
    assessed = CustomerTier.objects.filter(model=model).values("customer_id")
    untiered = customer_base(user=user).exclude(pk__in=assessed).count() + sum(counts.values())
    return {"rows": rows, "untiered": untiered, "total": sum(r["count"] for r in rows) + untiered}


def tier_customer_list(*, user: Any, model: TierModel, filters: Mapping[str, Any] | None = None) -> QuerySet:
    """The customers of ``model`` grouped by tier (best first, highest score first), filtered."""
    from steelyard.tiering.forms_customers import TierCustomerFilter

    qs = customer_tier_base(user=user, model=model).select_related(
        "customer", "customer__owner", "customer__org_unit"
    )
    return TierCustomerFilter(filters or {}, user=user, model=model).apply(qs)


def near_threshold_q(model: TierModel, window: Decimal = NEAR_WINDOW) -> tuple[Q, Case | None]:
    """Customers whose score is within ``window`` points below the threshold of the tier just above
    their assessed tier; and the gap as an expression."""
    tiers = sorted(model.tiers.all(), key=lambda t: t.rank)
    cond = Q(pk__in=[])
    whens = []
    for up, here in zip(tiers, tiers[1:], strict=False):
        c = Q(tier=here.code, score__lt=up.min_score, score__gte=up.min_score - window)
        cond |= c
        whens.append(When(c, then=Value(up.min_score) - F("score")))
    if not whens:
        return cond, None
    return cond, Case(*whens, default=Value(None), output_field=DecimalField(max_digits=8, decimal_places=2))


def near_threshold(*, user: Any, model: TierModel, limit: int = 10) -> list[dict[str, Any]]:
    """ "2.1 points from Key": customers closest below the next tier up, nearest first."""
    cond, gap = near_threshold_q(model)
    if gap is None:
        return []
    tiers = sorted(model.tiers.all(), key=lambda t: t.rank)
    up_of = {here.code: up for up, here in zip(tiers, tiers[1:], strict=False)}
    rows = (
        customer_tier_base(user=user, model=model)
        .filter(cond)
        .annotate(gap=gap)
        .select_related("customer")
        .order_by("gap", "customer__legal_name", "pk")[:limit]
    )
    return [{"ct": ct, "gap": ct.gap, "up": tier_label(up_of.get(ct.tier))} for ct in rows]


def pending_moves(*, user: Any, model: TierModel, limit: int = 10) -> list[dict[str, Any]]:
    """ "2 more assessments to move to Key": customers on their way to another tier."""
    tiers = tiers_by_code(model)
    rows = (
        customer_tier_base(user=user, model=model)
        .exclude(pending_tier="")
        .select_related("customer")
        .order_by("-pending_runs", "customer__legal_name", "pk")[:limit]
    )
    return [
        {
            "ct": ct,
            "to": tier_label(tiers.get(ct.pending_tier), ct.pending_tier),
            "up": (tiers[ct.pending_tier].rank if ct.pending_tier in tiers else 99) < ct.tier_rank,
            "runs_left": _runs_left(model, ct),
        }
        for ct in rows
    ]


def override_list(*, user: Any, filters: Mapping[str, Any] | None = None) -> QuerySet[TierOverride]:
    """Overrides the user may see (through their customers), newest first; filters: status, model, customer."""
    filters = filters or {}
    qs = TierOverride.objects.visible_to(user).select_related("model", "customer", "requested_by")
    if filters.get("status"):
        qs = qs.filter(status=filters["status"])
    if filters.get("model"):
        qs = qs.filter(Q(model__code=str(filters["model"])) | Q(model_id=_int_or_0(filters["model"])))
    if filters.get("customer"):
        qs = qs.filter(customer_id=_int_or_0(filters["customer"]))
    return qs


def _int_or_0(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


# --- the manager's review ---------------------------------------------------------------------------------


def current_period(today: dt.date | None = None) -> str:
    today = today or timezone.localdate()
    return f"{today.year}-Q{(today.month - 1) // 3 + 1}"


def period_bounds(period: str) -> tuple[dt.date, dt.date]:
    """``"2026-Q3"`` → (1 July 2026, 30 September 2026); ``ValueError`` when malformed."""
    year_s, _sep, q_s = (period or "").partition("-Q")
    year, quarter = int(year_s), int(q_s)
    if not (2000 <= year <= 2100 and 1 <= quarter <= 4):
        raise ValueError(period)
    start = dt.date(year, 3 * quarter - 2, 1)
    end = dt.date(year + (quarter == 4), 1 if quarter == 4 else 3 * quarter + 1, 1) - dt.timedelta(days=1)
    return start, end


def recent_periods(n: int = 8, today: dt.date | None = None) -> list[str]:
    today = today or timezone.localdate()
    year, quarter = today.year, (today.month - 1) // 3 + 1
    out = []
    for _i in range(n):
        out.append(f"{year}-Q{quarter}")
        quarter -= 1
        if quarter == 0:
            year, quarter = year - 1, 4
    return out


def _pct(part: Decimal | int, whole: Decimal | int) -> str:
    if not whole:
        return "0.0"
    return str((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1")))


def menu_in_force(start: dt.date, end: dt.date) -> StrategyMenu | None:
    return (
        StrategyMenu.objects.filter(status="active", effective_from__lte=end)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=start))
        .order_by("-effective_from", "-version")
        .first()
    )


def review_data(*, user: Any, model: TierModel, period: str) -> dict[str, Any]:
    """The performance data of ``model``'s tiers in ``period`` within the user's scope, JSON-safe.

    Tier distribution (tier in force today), invoiced revenue in the period per tier (its share of all the
    user's customers' revenue), the tier migrations of the model's last runs up to the period's end, and the
    overrides in force. Each figure is one GROUP BY; nothing is loaded row by row.
    """
    from steelyard.orders.models import Invoice, InvoiceStatus

    start, end = period_bounds(period)
    tiers = sorted(model.tiers.all(), key=lambda t: t.rank)
    inv = Q(customer__invoices__issued_on__gte=start, customer__invoices__issued_on__lte=end) & ~Q(
        customer__invoices__status=InvoiceStatus.CANCELLED
    )
    grouped = {
        row["eff"]: row
        for row in customer_tier_base(user=user, model=model)
        .order_by()
        .values("eff")
        .annotate(
            customers=Count("id", distinct=True),
            avg_score=Avg("score"),
            revenue=Coalesce(Sum("customer__invoices__amount", filter=inv), Value(ZERO), output_field=MONEY),
        )
    }
    total_revenue = (
        Invoice.objects.visible_to(user)
        .filter(issued_on__gte=start, issued_on__lte=end, customer__merged_into__isnull=True)
        .exclude(status=InvoiceStatus.CANCELLED)
        .aggregate(s=Coalesce(Sum("amount"), Value(ZERO), output_field=MONEY))["s"]
    )
    assessed = CustomerTier.objects.filter(model=model).values("customer_id")
    untiered = customer_base(user=user).exclude(pk__in=assessed).count()
    tiered_customers = sum(int(r["customers"]) for r in grouped.values())
    total_customers = tiered_customers + untiered
    distribution = []
    tiered_revenue = ZERO
    for t in tiers:
        row = grouped.get(t.code, {})
        revenue = row.get("revenue") or ZERO
        tiered_revenue += revenue
        n = int(row.get("customers") or 0)
        avg = row.get("avg_score")
        distribution.append(
            {
                "tier": t.code,
                "name": tier_label(t),
                "customers": n,
                "share": _pct(n, total_customers),
                "avg_score": str(Decimal(avg).quantize(Decimal("0.1"))) if avg is not None else None,
                "revenue": str(revenue.quantize(Decimal("0.01"))),
                "revenue_share": _pct(revenue, total_revenue),
            }
        )
    untiered_revenue = max(total_revenue - tiered_revenue, ZERO)

    runs = list(
        AssessmentRun.objects.filter(model=model, status=RunStatus.DONE, as_of__lte=end).order_by(
            "-as_of", "-id"
        )[:MIGRATION_RUNS]
    )
    run_ids = [r.pk for r in runs]
    assessed_n = {
        row["run_id"]: row["n"]
        for row in Assessment.objects.visible_to(user)
        .filter(run_id__in=run_ids)
        .order_by()
        .values("run_id")
        .annotate(n=Count("id"))
    }
    matrices: dict[int, dict[str, dict[str, int]]] = {}
    for row in (
        Assessment.objects.visible_to(user)
        .filter(run_id__in=run_ids)
        .exclude(previous_tier=F("tier"))
        .order_by()
        .values("run_id", "previous_tier", "tier")
        .annotate(n=Count("id"))
    ):
        matrices.setdefault(row["run_id"], {}).setdefault(row["previous_tier"] or "", {})[row["tier"]] = row[
            "n"
        ]
    migrations = [
        {
            "run": r.pk,
            "as_of": r.as_of.isoformat(),
            "assessed": assessed_n.get(r.pk, 0),
            "changed": sum(n for to in matrices.get(r.pk, {}).values() for n in to.values()),
            "matrix": matrices.get(r.pk, {}),
        }
        for r in runs
    ]
    in_force = (
        customer_tier_base(user=user, model=model)
        .filter(override_until__gte=timezone.localdate())
        .exclude(override_tier="")
    )
    by_tier = {
        row["override_tier"]: row["n"]
        for row in in_force.order_by().values("override_tier").annotate(n=Count("id"))
    }
    menu = menu_in_force(start, end)
    return {
        "model": model.code,
        "model_name": model.name,
        "period": period,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "distribution": distribution,
        "untiered": {
            "customers": untiered,
            "share": _pct(untiered, total_customers),
            "revenue": str(untiered_revenue.quantize(Decimal("0.01"))),
            "revenue_share": _pct(untiered_revenue, total_revenue),
        },
        "total_customers": total_customers,
        "total_revenue": str(Decimal(total_revenue).quantize(Decimal("0.01"))),
        "migrations": migrations,
        "overrides": {"total": sum(by_tier.values()), "by_tier": by_tier},
        "menu_version": menu.version if menu else None,
    }


def overrides_in_force(*, user: Any, model: TierModel, limit: int = 20) -> list[CustomerTier]:
    """The customer tiers of ``model`` with an override in force (for the review page), soonest end first."""
    return list(
        customer_tier_base(user=user, model=model)
        .filter(override_until__gte=timezone.localdate())
        .exclude(override_tier="")
        .select_related("customer")
        .order_by("override_until", "pk")[:limit]
    )


def review_list(*, model: TierModel | None = None) -> QuerySet[TierReview]:
    """Saved reviews, newest first (role-gated by the callers; they hold aggregates only)."""
    qs = TierReview.objects.select_related("model", "reviewer", "menu")
    if model is not None:
        qs = qs.filter(model=model)
    return qs.order_by("-created_at", "-id")


def migration_rows(matrix: dict[str, dict[str, int]], model: TierModel) -> list[dict[str, Any]]:
    """A migration matrix as readable rows ``{from, to, customers, up}`` (for templates)."""
    tiers = tiers_by_code(model)
    rows = []
    for src, targets in matrix.items():
        for dst, n in targets.items():
            src_rank = tiers[src].rank if src in tiers else 99
            dst_rank = tiers[dst].rank if dst in tiers else 99
            rows.append(
                {
                    "from": tier_label(tiers.get(src), src) if src else _("No tier"),
                    "to": tier_label(tiers.get(dst), dst),
                    "customers": n,
                    "up": dst_rank < src_rank,
                }
            )
    return sorted(rows, key=lambda r: -r["customers"])


OVERRIDE_OPEN = (OverrideStatus.PENDING, OverrideStatus.APPROVED)
