"""Stage gates: what an opportunity still lacks for a stage, and moving it (CONTRACT; the opportunities
area implements ``opportunity_stage_move`` and the ``sales.stage_gate`` approval kind).

``missing_items(opportunity, stage=None)`` — implemented here, shared by the gate, the checklist on the
opportunity page and the "required items missing" risk flag — lists the **required** items of ``stage``
(default: the opportunity's current stage) that are not satisfied:

- a key task (``ItemKind.TASK``): its ``ChecklistEntry`` is ``done``;
- a required document (``ItemKind.DOCUMENT``): its entry is ``done`` with an ``attachment``;
- required information (``ItemKind.FIELD``): the opportunity has a value for ``item.field``
  (``REQUIRABLE_FIELDS``): amount > 0, an expected close date, a next step, at least one solution line,
  one competitor, one contact with the decision-maker role, a solution engineer / delivery manager on
  the team, one quote that is not superseded, a source.

Gate rule (``opportunity_stage_move``): moving **forward** past a stage — to any stage with a higher
``order``, closing won included — needs every stage left behind (the current one and any skipped) to
have nothing missing. Otherwise the move is refused with ``StageGateBlocked`` (carrying the missing
items) unless the rep asks for a manager's approval: an ``ApprovalRequest`` of kind
``sales.stage_gate`` (subject: the opportunity; ``requested_change = {"to_stage": id, "to_stage_code",
"missing": [labels]}``; steps: the requester's manager) is raised, and when it is approved the move is
made with ``StageVisit.approval`` and ``.missing`` set. Moving **back**, or to the lost stage, has no gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import get_language

from steelyard.customers.models import DecisionRole
from steelyard.sales.models import (
    ChecklistEntry,
    ItemKind,
    Opportunity,
    OpportunityContact,
    OpportunityMember,
    PlaybookItem,
    PlaybookStage,
    QuoteStatus,
    TeamRole,
)


@dataclass(frozen=True)
class MissingItem:
    item_id: int
    stage_id: int
    kind: str
    label: str

    def __str__(self) -> str:
        return self.label


class StageGateBlocked(ValidationError):
    """A forward move with required items missing; ``missing`` lists them."""

    def __init__(self, message: Any, missing: list[MissingItem]) -> None:
        super().__init__(message, code="stage_gate")
        self.missing = missing


def item_label(item: PlaybookItem) -> str:
    """The item's label in the active language (the English label when the UI is in English and one is set)."""
    if (get_language() or "").startswith("en") and item.label_en:
        return item.label_en
    return item.label


def _field_satisfied(opportunity: Opportunity, field: str) -> bool:
    if field == "amount":
        return bool(opportunity.amount and opportunity.amount > 0)
    if field == "expected_close_date":
        return opportunity.expected_close_date is not None
    if field == "next_step":
        return bool(opportunity.next_step.strip())
    if field == "source":
        return bool(opportunity.source)
    if field == "lines":
        return opportunity.lines.exists()
    if field == "competitors":
        return opportunity.competitors.exists()
    if field == "decision_makers":
        return OpportunityContact.objects.filter(
            opportunity=opportunity, role=DecisionRole.DECISION_MAKER
        ).exists()
    if field == "solution_engineer":
        return OpportunityMember.objects.filter(
            opportunity=opportunity, role=TeamRole.SOLUTION_ENGINEER
        ).exists()
    if field == "delivery_manager":
        return OpportunityMember.objects.filter(
            opportunity=opportunity, role=TeamRole.DELIVERY_MANAGER
        ).exists()
    if field == "quote":
        return opportunity.quotes.exclude(status=QuoteStatus.SUPERSEDED).exists()
    return False


def missing_items(opportunity: Opportunity, stage: PlaybookStage | None = None) -> list[MissingItem]:
    """The required items of ``stage`` (default: the current stage) that the opportunity has not satisfied."""
    stage = stage or opportunity.stage
    items = list(PlaybookItem.objects.filter(stage=stage, required=True).order_by("order", "id"))
    if not items:
        return []
    entries = {
        e.item_id: e
        for e in ChecklistEntry.objects.filter(opportunity=opportunity, item_id__in=[i.pk for i in items])
    }
    missing = []
    for item in items:
        entry = entries.get(item.pk)
        if item.kind == ItemKind.TASK:
            ok = entry is not None and entry.done
        elif item.kind == ItemKind.DOCUMENT:
            ok = entry is not None and entry.done and entry.attachment_id is not None
        else:
            ok = _field_satisfied(opportunity, item.field)
        if not ok:
            missing.append(MissingItem(item.pk, stage.pk, item.kind, item_label(item)))
    return missing


def stages_passed(opportunity: Opportunity, to_stage: PlaybookStage) -> list[PlaybookStage]:
    """The stages a forward move to ``to_stage`` leaves behind (current one and any skipped); [] backwards."""
    if to_stage.is_lost or to_stage.order <= opportunity.stage.order:
        return []
    return list(
        PlaybookStage.objects.filter(
            playbook_id=opportunity.playbook_id, order__gte=opportunity.stage.order, order__lt=to_stage.order
        )
        .exclude(is_lost=True)
        .order_by("order")
    )


def gate_missing(opportunity: Opportunity, to_stage: PlaybookStage) -> list[MissingItem]:
    """Everything a move to ``to_stage`` would leave missing ([] when the gate is open)."""
    out: list[MissingItem] = []
    for stage in stages_passed(opportunity, to_stage):
        out.extend(missing_items(opportunity, stage))
    return out
