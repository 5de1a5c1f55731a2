"""Reading opportunities, always through ``Opportunity.objects.visible_to``: the list (shared by the page,
its export and the API), one deal with everything its page shows, search, and the small lists of the
customer page and the home page. A deal outside the reader's scope is a 404."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language

from steelyard.core.models import ApprovalRequest, ApprovalStatus
from steelyard.core.scopes import VIEW
from steelyard.core.selectors.history import HistoryEntry, record_history
from steelyard.customers.models import Contact, Customer
from steelyard.sales.filters import OpportunityFilter
from steelyard.sales.models import (
    REQUIRABLE_FIELDS,
    ChecklistEntry,
    Competitor,
    ItemKind,
    Opportunity,
    OpportunityCompetitor,
    OpportunityContact,
    OpportunityLine,
    OpportunityMember,
    OpportunityStatus,
    PlaybookItem,
    PlaybookStage,
    RiskFlag,
    StageVisit,
)
from steelyard.sales.services.stages import _field_satisfied, item_label

HISTORY_LIMIT = 50
SECTION_LIMIT = 5
HOME_LIMIT = 8
KIND_STAGE_GATE = "sales.stage_gate"

#: Where each piece of required information is filled in on the opportunity page ("edit" = the edit form).
FIELD_TARGETS = {
    "amount": ("edit", "id_amount"),
    "expected_close_date": ("edit", "id_expected_close_date"),
    "next_step": ("edit", "id_next_step"),
    "source": ("edit", "id_source"),
    "lines": ("page", "lines"),
    "competitors": ("page", "competitors"),
    "decision_makers": ("page", "contacts"),
    "solution_engineer": ("page", "team"),
    "delivery_manager": ("page", "team"),
    "quote": ("page", "quotes"),
}


def _pk(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404("No such opportunity.")


def opportunity_base(*, user: Any, action: str = VIEW) -> QuerySet[Opportunity]:
    return Opportunity.objects.visible_to(user, action)


def opportunity_list(*, user: Any, filters: Mapping[str, Any] | None = None) -> QuerySet[Opportunity]:
    """The opportunity list: scoped, filtered and sorted by :class:`OpportunityFilter`, rows ready to show."""
    qs = opportunity_base(user=user).select_related("customer", "owner", "stage", "product_line")
    return OpportunityFilter(filters or {}, user=user).apply(qs)


def opportunity_get(*, user: Any, pk: Any, action: str = VIEW) -> Opportunity:
    """One opportunity ``user`` may ``action``; else 404."""
    opp = (
        opportunity_base(user=user, action=action)
        .select_related("customer", "owner", "stage", "product_line", "playbook", "org_unit", "lost_to")
        .filter(pk=_pk(pk))
        .first()
    )
    if opp is None:
        raise Http404("No such opportunity.")
    return opp


def opportunity_search(*, user: Any, q: str, limit: int = 10) -> list[Opportunity]:
    q = (q or "").strip()
    if not q:
        return []
    return list(
        opportunity_base(user=user)
        .filter(Q(number__icontains=q) | Q(name__icontains=q) | Q(customer__legal_name__icontains=q))
        .select_related("customer", "stage")
        .order_by("status", "expected_close_date", "-id")[:limit]
    )


def flag_badges(opportunity: Opportunity) -> list[tuple[str, Any]]:
    """``[(code, label)]`` of the stored risk flags, in their stored order."""
    out = []
    for code in opportunity.flags:
        try:
            out.append((code, RiskFlag(code).label))
        except ValueError:
            continue
    return out


def stage_name(stage: PlaybookStage) -> str:
    """The stage's name in the active language (its English name when the UI is in English and one is set)."""
    if (get_language() or "").startswith("en") and stage.name_en:
        return stage.name_en
    return stage.name


# --- the opportunity page ------------------------------------------------------------------------------


@dataclass
class StageStep:
    """One stage of the progress bar: ``state`` is done, current, future, won or lost."""

    stage: PlaybookStage
    state: str

    @property
    def label(self) -> str:
        return stage_name(self.stage)


@dataclass
class ChecklistRow:
    item: PlaybookItem
    entry: ChecklistEntry | None
    satisfied: bool
    target_url: str = ""

    @property
    def label(self) -> str:
        return item_label(self.item)

    @property
    def field_label(self) -> Any:
        return REQUIRABLE_FIELDS.get(self.item.field, "")


@dataclass
class VisitRow:
    visit: StageVisit
    days: Decimal

    @property
    def stage_label(self) -> str:
        return stage_name(self.visit.stage)


@dataclass
class OpportunityDetail:
    opportunity: Opportunity
    steps: list[StageStep]
    stages: list[PlaybookStage]
    checklist: list[ChecklistRow]
    missing: list[ChecklistRow]
    next_stage: PlaybookStage | None
    won_stage: PlaybookStage | None
    lost_stage: PlaybookStage | None
    lines: list[OpportunityLine]
    competitors: list[OpportunityCompetitor]
    contacts: list[OpportunityContact]
    members: list[OpportunityMember]
    visits: list[VisitRow]
    history: list[HistoryEntry]
    pending_approval: ApprovalRequest | None
    flags: list[tuple[str, Any]]
    days_in_stage: int


def _checklist(opp: Opportunity, stage: PlaybookStage, edit_url: str) -> list[ChecklistRow]:
    items = list(PlaybookItem.objects.filter(stage=stage).order_by("order", "id"))
    if not items:
        return []
    entries = {
        e.item_id: e
        for e in ChecklistEntry.objects.filter(
            opportunity=opp, item_id__in=[i.pk for i in items]
        ).select_related("attachment", "done_by")
    }
    rows = []
    for item in items:
        entry = entries.get(item.pk)
        target = ""
        if item.kind == ItemKind.TASK:
            ok = entry is not None and entry.done
        elif item.kind == ItemKind.DOCUMENT:
            ok = entry is not None and entry.done and entry.attachment_id is not None
        else:
            ok = _field_satisfied(opp, item.field)
            where, anchor = FIELD_TARGETS.get(item.field, ("edit", ""))
            target = f"{edit_url}#{anchor}" if where == "edit" else f"#{anchor}"
        rows.append(ChecklistRow(item, entry, ok, target))
    return rows


def _steps(opp: Opportunity, stages: list[PlaybookStage]) -> list[StageStep]:
    """The progress bar: the open stages and the won stage; a lost deal ends on the lost stage."""
    current = opp.stage
    steps = []
    for s in stages:
        if s.is_lost and not current.is_lost:
            continue
        if s.is_won and current.is_lost:
            continue
        if s.pk == current.pk:
            state = "won" if s.is_won else "lost" if s.is_lost else "current"
        elif current.is_closed and not s.is_closed:
            state = "done"
        else:
            state = "done" if s.order < current.order else "future"
        steps.append(StageStep(s, state))
    return steps


def _days(start: dt.datetime, end: dt.datetime) -> Decimal:
    return (Decimal((end - start).total_seconds()) / Decimal(86400)).quantize(Decimal("0.1"))


_HISTORY_SKIP = {
    "id",
    "created_at",
    "updated_at",
    "risk_flags",
    "furthest_order",  # not kept in the history (services.funnel)
    "last_activity_at",
    "stage_entered_at",
    "number",
}


def opportunity_history(
    opp: Opportunity, *, known: Mapping[tuple[str, Any], Any] | None = None, limit: int = HISTORY_LIMIT
) -> list[HistoryEntry]:
    """What changed on the deal and when (newest first), from its simple_history rows (one query)."""
    return record_history(opp, skip=_HISTORY_SKIP, known=known, limit=limit, drop_unchanged=True)


def opportunity_detail(*, user: Any, pk: Any) -> OpportunityDetail:
    """Everything the opportunity page shows, each part read once."""
    opp = opportunity_get(user=user, pk=pk)
    stages = list(PlaybookStage.objects.filter(playbook_id=opp.playbook_id).order_by("order"))
    for s in stages:
        s.label = stage_name(s)  # type: ignore[attr-defined]
    by_id = {s.pk: s for s in stages}
    opp.stage = by_id.get(opp.stage_id, opp.stage)
    edit_url = reverse("sales_opportunity_edit", args=[opp.pk])
    checklist = _checklist(opp, opp.stage, edit_url)
    next_stage = None
    if opp.is_open:
        next_stage = next((s for s in stages if s.order > opp.stage.order and not s.is_lost), None)
    lines = list(
        OpportunityLine.objects.filter(opportunity=opp).select_related("product").order_by("order", "id")
    )
    competitors = list(
        OpportunityCompetitor.objects.filter(opportunity=opp)
        .select_related("competitor")
        .order_by("competitor__name")
    )
    contacts = list(
        OpportunityContact.objects.filter(opportunity=opp).select_related("contact").order_by("role", "id")
    )
    members = list(
        OpportunityMember.objects.filter(opportunity=opp)
        .select_related("user", "user__org_unit")
        .annotate(
            is_owner=Case(When(role="owner", then=Value(0)), default=Value(1), output_field=IntegerField())
        )
        .order_by("is_owner", "role", "id")
    )
    now = timezone.now()
    visits = [
        VisitRow(v, _days(v.entered_at, v.left_at or now))
        for v in StageVisit.objects.filter(opportunity=opp)
        .select_related("entered_by", "approval")
        .order_by("entered_at", "id")
    ]
    for v in visits:
        if v.visit.stage_id in by_id:
            v.visit.stage = by_id[v.visit.stage_id]
    known: dict[tuple[str, Any], Any] = {("stage", s.pk): stage_name(s) for s in stages}
    known.update({("owner", m.user_id): m.user for m in members})
    known[("customer", opp.customer_id)] = opp.customer
    known[("product_line", opp.product_line_id)] = opp.product_line
    if opp.org_unit_id:
        known[("org_unit", opp.org_unit_id)] = opp.org_unit
    pending = (
        ApprovalRequest.objects.filter(
            kind=KIND_STAGE_GATE,
            object_id=str(opp.pk),
            content_type__app_label="sales",
            content_type__model="opportunity",
            status=ApprovalStatus.PENDING,
        )
        .select_related("requester")
        .order_by("-created_at")
        .first()
    )
    return OpportunityDetail(
        opportunity=opp,
        steps=_steps(opp, stages),
        stages=stages,
        checklist=checklist,
        missing=[r for r in checklist if r.item.required and not r.satisfied],
        next_stage=next_stage,
        won_stage=next((s for s in stages if s.is_won), None),
        lost_stage=next((s for s in stages if s.is_lost), None),
        lines=lines,
        competitors=competitors,
        contacts=contacts,
        members=members,
        visits=visits,
        history=opportunity_history(opp, known=known),
        pending_approval=pending,
        flags=flag_badges(opp),
        days_in_stage=(timezone.localdate(now) - timezone.localdate(opp.stage_entered_at)).days,
    )


def customer_contacts(*, opportunity: Opportunity) -> QuerySet[Contact]:
    """The customer's active contacts, to choose decision-makers from. The deal is already in the
    reader's scope; its team works the customer's people even when the customer belongs to another rep."""
    return Contact.objects.filter(customer_id=opportunity.customer_id, is_active=True).order_by("name")


def competitor_choices() -> QuerySet[Competitor]:
    return Competitor.objects.filter(is_active=True).order_by("name")


# --- the customer page and the home page ---------------------------------------------------------------


def customer_opportunities(*, user: Any, customer: Customer, limit: int = SECTION_LIMIT) -> dict[str, Any]:
    """The deals on ``customer`` the reader may see: open ones first (soonest close), then the latest
    closed; with the count and open pipeline of everything visible."""
    qs = opportunity_base(user=user).filter(customer=customer)
    rows = list(
        qs.select_related("stage", "owner")
        .annotate(
            closed=Case(
                When(status=OpportunityStatus.OPEN, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        .order_by("closed", "expected_close_date", "-closed_on", "-id")[: limit + 1]
    )
    return {"rows": rows[:limit], "more": len(rows) > limit}


def my_closing_this_month(
    *, user: Any, today: dt.date | None = None, limit: int = HOME_LIMIT
) -> dict[str, Any]:
    """The reader's own open deals expected to close by the end of this month (late ones included)."""
    today = today or timezone.localdate()
    first_next = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    qs = opportunity_base(user=user).filter(
        owner=user, status=OpportunityStatus.OPEN, expected_close_date__lt=first_next
    )
    rows = list(qs.select_related("customer", "stage").order_by("expected_close_date", "id")[: limit + 1])
    return {
        "rows": rows[:limit],
        "more": len(rows) > limit,
        "today": today,
        "month_end": first_next - dt.timedelta(days=1),
    }
