"""Risk flags: what threatens an open opportunity, computed from its data and stored for filtering.

``opportunity_risks(opportunity)`` explains the flags of one opportunity (a :class:`Risk` per flag, with a
human detail string); ``risks_refresh(ids=...)`` recomputes ``Opportunity.risk_flags`` (``,code,code,``,
``""`` when none) for many at once, in chunks of :data:`CHUNK` with a fixed number of queries per chunk,
writing only the rows whose flags change. The opportunity services call ``risks_refresh(ids=[pk])``
after every write; the daily job ``sales.risks_refresh`` (``steelyard.sales.tasks``) runs it over every
open opportunity, for the flags that depend on the calendar (stalled, close date passed).

The flags (``RiskFlag``), for an **open** opportunity (a closed one carries none):

- ``stalled``: more than the current stage's ``stall_days`` whole days (local calendar days) since
  ``last_activity_at``; a stage without a limit never stalls. 30 days with a limit of 30 is not stalled,
  31 is.
- ``close_passed``: ``expected_close_date`` is before today.
- ``tasks_missing``: a required item of the current stage is not satisfied (``services.stages.missing_items``).
- ``discount``: the latest quote that is not superseded has ``discount_pct`` above its ``max_discount_pct``
  and is not approved (neither its approval request is approved nor its status is approved, sent or
  accepted — a quote only gets there once its discount has been approved).
- ``credit``: that latest quote's credit check says ``over``.
- ``single_threaded``: fewer than two contacts on the deal (``OpportunityContact``).
- ``competitor``: a competitor on the deal with a high threat.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import get_language, gettext, ngettext

from steelyard.core.models.approvals import ApprovalStatus
from steelyard.customers.models import DecisionRole
from steelyard.sales.models import (
    ChecklistEntry,
    ItemKind,
    Opportunity,
    OpportunityCompetitor,
    OpportunityContact,
    OpportunityLine,
    OpportunityMember,
    OpportunityStatus,
    PlaybookItem,
    PlaybookStage,
    Quote,
    QuoteStatus,
    RiskFlag,
    TeamRole,
    ThreatLevel,
)
from steelyard.sales.services.stages import missing_items

#: Opportunities per chunk of the bulk refresh.
CHUNK = 1000

#: Quote statuses that mean its discount was approved (or needed no approval).
APPROVED_QUOTE_STATUSES = (QuoteStatus.APPROVED, QuoteStatus.SENT, QuoteStatus.ACCEPTED)

#: The order flags are stored and shown in.
FLAG_ORDER = [f.value for f in RiskFlag]


@dataclass(frozen=True)
class Risk:
    """One risk on one opportunity: the flag (``RiskFlag`` code), its label and what exactly is wrong."""

    code: str
    detail: str

    @property
    def label(self) -> str:
        return str(RiskFlag(self.code).label)

    def __str__(self) -> str:
        return f"{self.label}: {self.detail}"


def flags_value(codes: Iterable[str]) -> str:
    """The stored form of a set of flags: ``,a,b,`` in :data:`FLAG_ORDER`, ``""`` for none."""
    present = set(codes)
    ordered = [c for c in FLAG_ORDER if c in present]
    return f",{','.join(ordered)}," if ordered else ""


def stage_label(stage: PlaybookStage) -> str:
    if (get_language() or "").startswith("en") and stage.name_en:
        return stage.name_en
    return stage.name


def days_since(moment: dt.datetime | None, today: dt.date) -> int | None:
    """Whole local calendar days from ``moment`` to ``today`` (None when there is no moment)."""
    if moment is None:
        return None
    return (today - timezone.localdate(moment)).days


def _is_stalled(stall_days: int | None, last_activity_at: dt.datetime | None, today: dt.date) -> bool:
    days = days_since(last_activity_at, today)
    return stall_days is not None and days is not None and days > stall_days


def _quote_discount_unapproved(
    discount_pct: Decimal | None,
    max_discount_pct: Decimal | None,
    status: str,
    approval_status: str | None,
) -> bool:
    if (discount_pct or 0) <= (max_discount_pct or 0):
        return False
    return approval_status != ApprovalStatus.APPROVED and status not in APPROVED_QUOTE_STATUSES


def _credit_over(credit: Any) -> bool:
    return isinstance(credit, dict) and bool(credit.get("over"))


def latest_quote(opportunity: Opportunity) -> Quote | None:
    """The opportunity's latest quote that is not superseded (newest first)."""
    return (
        Quote.objects.filter(opportunity=opportunity)
        .exclude(status=QuoteStatus.SUPERSEDED)
        .select_related("approval")
        .order_by("-created_at", "-id")
        .first()
    )


def opportunity_risks(opportunity: Opportunity, *, today: dt.date | None = None) -> list[Risk]:
    """The risks of one opportunity, each with a detail string ([] for a closed one)."""
    if opportunity.status != OpportunityStatus.OPEN:
        return []
    today = today or timezone.localdate()
    stage = opportunity.stage
    risks: list[Risk] = []

    if _is_stalled(stage.stall_days, opportunity.last_activity_at, today):
        risks.append(
            Risk(
                RiskFlag.STALLED,
                gettext("No activity for %(days)s days (limit %(limit)s in %(stage)s)")
                % {
                    "days": days_since(opportunity.last_activity_at, today),
                    "limit": stage.stall_days,
                    "stage": stage_label(stage),
                },
            )
        )
    close = opportunity.expected_close_date
    if close is not None and close < today:
        risks.append(
            Risk(
                RiskFlag.CLOSE_PASSED,
                gettext("Expected to close on %(date)s, %(days)s days ago")
                % {"date": close.isoformat(), "days": (today - close).days},
            )
        )
    missing = missing_items(opportunity, stage)
    if missing:
        risks.append(
            Risk(
                RiskFlag.TASKS_MISSING,
                gettext("Missing in %(stage)s: %(items)s")
                % {"stage": stage_label(stage), "items": ", ".join(m.label for m in missing)},
            )
        )
    quote = latest_quote(opportunity)
    if quote is not None:
        approval_status = quote.approval.status if quote.approval is not None else None
        if _quote_discount_unapproved(
            quote.discount_pct, quote.max_discount_pct, quote.status, approval_status
        ):
            risks.append(
                Risk(
                    RiskFlag.DISCOUNT,
                    gettext(
                        "Quote %(quote)s: discount %(discount)s%% above the %(limit)s%% allowed, not approved"
                    )
                    % {
                        "quote": str(quote),
                        "discount": quote.discount_pct,
                        "limit": quote.max_discount_pct,
                    },
                )
            )
        if _credit_over(quote.credit):
            credit = quote.credit
            risks.append(
                Risk(
                    RiskFlag.CREDIT,
                    gettext("Quote %(quote)s: credit exposure %(exposure)s over the limit %(limit)s")
                    % {
                        "quote": str(quote),
                        "exposure": credit.get("exposure", "?"),
                        "limit": credit.get("limit", "?"),
                    },
                )
            )
    contacts = OpportunityContact.objects.filter(opportunity=opportunity).count()
    if contacts < 2:
        risks.append(
            Risk(
                RiskFlag.SINGLE_THREADED,
                gettext("No contact on the deal")
                if contacts == 0
                else ngettext(
                    "Only %(count)s contact on the deal", "Only %(count)s contacts on the deal", contacts
                )
                % {"count": contacts},
            )
        )
    threats = list(
        OpportunityCompetitor.objects.filter(opportunity=opportunity, threat=ThreatLevel.HIGH)
        .select_related("competitor")
        .order_by("competitor__name")
    )
    if threats:
        risks.append(
            Risk(
                RiskFlag.COMPETITOR,
                gettext("High threat: %(names)s") % {"names": ", ".join(str(t.competitor) for t in threats)},
            )
        )
    return risks


# --- bulk ---------------------------------------------------------------------------------------------

#: What each requirable field needs, as an EXISTS over the related rows (fields on the row are read
#: directly). Mirrors ``services.stages._field_satisfied``.
_FIELD_EXISTS = {
    "lines": lambda: Exists(OpportunityLine.objects.filter(opportunity=OuterRef("pk"))),
    "competitors": lambda: Exists(OpportunityCompetitor.objects.filter(opportunity=OuterRef("pk"))),
    "decision_makers": lambda: Exists(
        OpportunityContact.objects.filter(opportunity=OuterRef("pk"), role=DecisionRole.DECISION_MAKER)
    ),
    "solution_engineer": lambda: Exists(
        OpportunityMember.objects.filter(opportunity=OuterRef("pk"), role=TeamRole.SOLUTION_ENGINEER)
    ),
    "delivery_manager": lambda: Exists(
        OpportunityMember.objects.filter(opportunity=OuterRef("pk"), role=TeamRole.DELIVERY_MANAGER)
    ),
    "quote": lambda: Exists(
        Quote.objects.filter(opportunity=OuterRef("pk")).exclude(status=QuoteStatus.SUPERSEDED)
    ),
}


def _row_field_satisfied(row: dict[str, Any], field: str) -> bool:
    if field == "amount":
        return bool(row["amount"] and row["amount"] > 0)
    if field == "expected_close_date":
        return row["expected_close_date"] is not None
    if field == "next_step":
        return bool((row["next_step"] or "").strip())
    if field == "source":
        return bool(row["source"])
    if field in _FIELD_EXISTS:
        return bool(row[f"has_{field}"])
    return False


def _chunk_flags(ids: list[int], today: dt.date) -> dict[int, tuple[str, str]]:
    """``{id: (stored flags, new flags)}`` for the opportunities ``ids`` (4 queries whatever their number)."""
    latest_quote_id = Subquery(
        Quote.objects.filter(opportunity=OuterRef("pk"))
        .exclude(status=QuoteStatus.SUPERSEDED)
        .order_by("-created_at", "-id")
        .values("pk")[:1]
    )
    contacts = Coalesce(
        Subquery(
            OpportunityContact.objects.filter(opportunity=OuterRef("pk"))
            .order_by()
            .values("opportunity")
            .annotate(n=Count("pk"))
            .values("n")[:1],
            output_field=IntegerField(),
        ),
        Value(0),
    )
    annotations: dict[str, Any] = {f"has_{field}": make() for field, make in _FIELD_EXISTS.items()}
    rows = list(
        Opportunity.objects.filter(pk__in=ids)
        .annotate(
            latest_quote_id=latest_quote_id,
            contacts_n=contacts,
            high_threat=Exists(
                OpportunityCompetitor.objects.filter(opportunity=OuterRef("pk"), threat=ThreatLevel.HIGH)
            ),
            stall_days=Coalesce("stage__stall_days", Value(-1)),
            **annotations,
        )
        .values(
            "pk",
            "status",
            "stage_id",
            "risk_flags",
            "last_activity_at",
            "expected_close_date",
            "amount",
            "next_step",
            "source",
            "latest_quote_id",
            "contacts_n",
            "high_threat",
            "stall_days",
            *annotations,
        )
    )
    open_rows = [r for r in rows if r["status"] == OpportunityStatus.OPEN]

    items_by_stage: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
    for item_id, stage_id, kind, field in PlaybookItem.objects.filter(
        stage_id__in={r["stage_id"] for r in open_rows}, required=True
    ).values_list("pk", "stage_id", "kind", "field"):
        items_by_stage[stage_id].append((item_id, kind, field))
    item_ids = [i for items in items_by_stage.values() for i, _k, _f in items]
    entries: dict[tuple[int, int], bool] = {}
    if item_ids:
        for opp_id, item_id, attachment_id, kind in ChecklistEntry.objects.filter(
            opportunity_id__in=[r["pk"] for r in open_rows], item_id__in=item_ids, done=True
        ).values_list("opportunity_id", "item_id", "attachment_id", "item__kind"):
            entries[(opp_id, item_id)] = kind != ItemKind.DOCUMENT or attachment_id is not None

    quotes = {
        q["pk"]: q
        for q in Quote.objects.filter(
            pk__in=[r["latest_quote_id"] for r in open_rows if r["latest_quote_id"]]
        ).values("pk", "discount_pct", "max_discount_pct", "status", "approval__status", "credit")
    }

    out: dict[int, tuple[str, str]] = {}
    for r in rows:
        if r["status"] != OpportunityStatus.OPEN:
            out[r["pk"]] = (r["risk_flags"], "")
            continue
        codes = []
        stall = r["stall_days"] if r["stall_days"] >= 0 else None
        if _is_stalled(stall, r["last_activity_at"], today):
            codes.append(RiskFlag.STALLED)
        if r["expected_close_date"] is not None and r["expected_close_date"] < today:
            codes.append(RiskFlag.CLOSE_PASSED)
        for item_id, kind, field in items_by_stage.get(r["stage_id"], ()):
            if kind == ItemKind.FIELD:
                ok = _row_field_satisfied(r, field)
            else:
                ok = entries.get((r["pk"], item_id), False)
            if not ok:
                codes.append(RiskFlag.TASKS_MISSING)
                break
        quote = quotes.get(r["latest_quote_id"])
        if quote is not None:
            if _quote_discount_unapproved(
                quote["discount_pct"], quote["max_discount_pct"], quote["status"], quote["approval__status"]
            ):
                codes.append(RiskFlag.DISCOUNT)
            if _credit_over(quote["credit"]):
                codes.append(RiskFlag.CREDIT)
        if r["contacts_n"] < 2:
            codes.append(RiskFlag.SINGLE_THREADED)
        if r["high_threat"]:
            codes.append(RiskFlag.COMPETITOR)
        out[r["pk"]] = (r["risk_flags"], flags_value(codes))
    return out


def risk_flags_compute(ids: Iterable[int], *, today: dt.date | None = None) -> dict[int, str]:
    """The flags ``ids`` should carry now (stored form), computed in bulk without writing."""
    today = today or timezone.localdate()
    ids = list(ids)
    out: dict[int, str] = {}
    for start in range(0, len(ids), CHUNK):
        for pk, (_old, new) in _chunk_flags(ids[start : start + CHUNK], today).items():
            out[pk] = new
    return out


def _write(changes: dict[int, str]) -> None:
    by_value: dict[str, list[int]] = defaultdict(list)
    for pk, value in changes.items():
        by_value[value].append(pk)
    for value, pks in by_value.items():
        # ``update`` on purpose: flags are derived data (no history row, ``updated_at`` untouched).
        Opportunity.objects.filter(pk__in=pks).update(risk_flags=value)


def risks_refresh(*, ids: Iterable[int] | None = None, today: dt.date | None = None) -> int:
    """Recompute and store the flags of ``ids`` (default: every open opportunity, and clear the closed
    ones still carrying flags); returns how many rows changed."""
    today = today or timezone.localdate()
    changed = 0
    if ids is None:
        changed += Opportunity.objects.filter(~Q(status=OpportunityStatus.OPEN), ~Q(risk_flags="")).update(
            risk_flags=""
        )
        all_ids = list(
            Opportunity.objects.filter(status=OpportunityStatus.OPEN)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    else:
        all_ids = sorted(set(ids))
    for start in range(0, len(all_ids), CHUNK):
        flags = _chunk_flags(all_ids[start : start + CHUNK], today)
        changes = {pk: new for pk, (old, new) in flags.items() if old != new}
        _write(changes)
        changed += len(changes)
    return changed
