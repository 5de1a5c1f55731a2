"""The opportunities API (mounted at /api/v1/sales/opportunities).

The list takes the page's filters (``sales/filters.py``) with keyset pagination (soonest close first).
Every route reads the deal through the caller's scope: outside it, 404. Writes go through the audited
services: a service's ``ValidationError`` is a 400 with field details, a malformed body a 422, a deal the
caller may only look at a 403. A stage move (or closing as won) that the playbook's gate blocks answers
**409** ``stage_gate`` with one ``fields`` entry per missing item (``missing.<item id>``); send it again
with ``request_approval: true`` and a ``reason`` to ask the manager instead.
"""

# No ``from __future__ import annotations``: ninja resolves the schemas' annotations at runtime.

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile

from steelyard.core.api.errors import ApiError
from steelyard.core.api.pagination import KeysetPagination, paginate
from steelyard.sales.filters import OpportunityFilter
from steelyard.sales.selectors import opportunities as selectors
from steelyard.sales.services import opportunities as services
from steelyard.sales.services.stages import StageGateBlocked

router = Router(tags=["sales"])

GATE_CODE = "stage_gate"


# --- schemas ---------------------------------------------------------------------------------


class OpportunityOut(Schema):
    id: int
    number: str
    name: str
    customer_id: int
    customer_name: str = Field(..., alias="customer.legal_name")
    product_line_id: int
    product_line: str = Field(..., alias="product_line.code")
    playbook_id: int
    stage_id: int
    stage: str = Field(..., alias="stage.code")
    stage_name: str = Field(..., alias="stage.name")
    status: str
    amount: Decimal
    amount_is_manual: bool
    probability: Decimal
    probability_is_manual: bool
    weighted_amount: Decimal
    forecast_category: str
    forecast_category_is_manual: bool
    currency: str
    expected_close_date: dt.date
    closed_on: dt.date | None
    close_reason: str
    next_step: str
    next_step_date: dt.date | None
    source: str
    source_detail: str
    owner_id: int
    owner: str = Field(..., alias="owner.username")
    org_unit_id: int | None
    risk_flags: list[str] = Field(..., alias="flags", description="Current risk flags (RiskFlag codes).")
    stage_entered_at: dt.datetime
    last_activity_at: dt.datetime
    updated_at: dt.datetime


class LineOut(Schema):
    id: int
    parent_id: int | None
    product_id: int | None
    product_code: str | None
    kind: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal

    @staticmethod
    def resolve_product_code(obj: Any) -> str | None:
        return obj.product.code if obj.product_id else None


class CompetitorOut(Schema):
    competitor_id: int
    name: str = Field(..., alias="competitor.name")
    strengths: str
    weaknesses: str
    threat: str
    price_position: str


class ContactOut(Schema):
    contact_id: int
    name: str = Field(..., alias="contact.name")
    title: str = Field(..., alias="contact.title")
    role: str
    attitude: str
    note: str


class MemberOut(Schema):
    id: int
    user_id: int
    username: str = Field(..., alias="user.username")
    name: str
    role: str

    @staticmethod
    def resolve_name(obj: Any) -> str:
        return str(obj.user)


class ChecklistItemOut(Schema):
    item_id: int
    kind: str
    label: str
    field: str
    required: bool
    satisfied: bool
    done_at: dt.datetime | None
    attachment_id: int | None
    note: str


class StageVisitOut(Schema):
    stage: str
    stage_name: str
    entered_at: dt.datetime
    left_at: dt.datetime | None
    days: Decimal
    approval_id: int | None
    missing: list[str]


class OpportunityDetailOut(OpportunityOut):
    description: str
    close_note: str
    lost_to: str | None
    lines: list[LineOut] = Field(..., alias="api_lines")
    competitors: list[CompetitorOut] = Field(..., alias="api_competitors")
    contacts: list[ContactOut] = Field(..., alias="api_contacts")
    members: list[MemberOut] = Field(..., alias="api_members")
    checklist: list[ChecklistItemOut] = Field(
        ..., alias="api_checklist", description="The current stage's checklist."
    )
    stage_history: list[StageVisitOut] = Field(..., alias="api_visits")
    pending_approval_id: int | None = Field(None, alias="api_pending_approval_id")

    @staticmethod
    def resolve_lost_to(obj: Any) -> str | None:
        return obj.lost_to.name if obj.lost_to_id else None


class OpportunityParams(Schema):
    q: str | None = Field(None, max_length=100, description="Number, name or customer name.")
    status: str | None = Field(None, description="open, won or lost.")
    stage: str | None = Field(None, description="Stage code (qualify, needs, ...).")
    product_line: int | None = Field(None, description="Product line id.")
    mine: str | None = Field(None, description='"mine": I own; "team": I am on the virtual team.')
    owner: int | None = Field(None, description="Owner (user id).")
    unit: int | None = Field(None, description="Org unit id: deals of that unit and the units below.")
    category: list[str] | None = Field(None, description="Forecast categories (repeat for several).")
    flag: str | None = Field(None, description="A risk flag the deal carries now.")
    close_from: dt.date | None = Field(None, description="Expected to close on or after.")
    close_to: dt.date | None = Field(None, description="Expected to close on or before.")
    closed_from: dt.date | None = Field(None, description="Closed (won or lost) on or after.")
    closed_to: dt.date | None = Field(None, description="Closed on or before.")
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    customer: int | None = Field(None, description="Customer id.")


class LineIn(Schema):
    product_id: int | None = None
    kind: str | None = Field(None, description="machine, option, part or service; default from the product.")
    description: str = Field("", max_length=200)
    quantity: Decimal | None = Field(None, description="Default 1.")
    unit_price: Decimal | None = Field(None, description="Default: the product's list price.")
    parent: int | None = Field(None, description="For an option: the 0-based index of its machine's line.")


class LinesIn(Schema):
    lines: list[LineIn]


class OpportunityIn(Schema):
    customer_id: int
    product_line_id: int
    name: str = Field(..., max_length=200)
    expected_close_date: dt.date
    amount: Decimal | None = Field(None, description="Set by hand; empty: the sum of the lines.")
    lines: list[LineIn] = []
    owner_id: int | None = Field(None, description="Managers only; default: the caller.")
    source: str = ""
    source_detail: str = Field("", max_length=200)
    next_step: str = Field("", max_length=200)
    next_step_date: dt.date | None = None
    description: str = ""


class OpportunityPatch(Schema):
    name: str | None = Field(None, max_length=200)
    amount: Decimal | None = Field(None, description="null: back to the sum of the lines.")
    amount_is_manual: bool | None = None
    expected_close_date: dt.date | None = None
    next_step: str | None = Field(None, max_length=200)
    next_step_date: dt.date | None = None
    description: str | None = None
    source: str | None = None
    source_detail: str | None = Field(None, max_length=200)
    probability: Decimal | None = Field(None, description="null: back to the stage's probability.")
    probability_is_manual: bool | None = None
    forecast_category: str | None = Field(None, description="null: back to the stage's category.")
    forecast_category_is_manual: bool | None = None
    owner_id: int | None = Field(None, description="Managers only: give the deal to another person.")


class CompetitorIn(Schema):
    competitor: str = Field(..., max_length=100, description="The competitor's name (created when new).")
    strengths: str = ""
    weaknesses: str = ""
    threat: str = Field("medium", description="low, medium or high.")
    price_position: str = Field("", max_length=100)


class ContactIn(Schema):
    contact_id: int
    role: str = Field(..., description="decision_maker, technical, procurement, finance, user, influencer.")
    attitude: str = Field("neutral", description="champion, supporter, neutral or opponent.")
    note: str = Field("", max_length=200)


class MemberIn(Schema):
    user_id: int
    role: str = Field(..., description="solution_engineer, delivery_manager, service, finance or other.")


class ChecklistIn(Schema):
    done: bool
    note: str = Field("", max_length=300)


class MoveIn(Schema):
    to_stage: int | str = Field(..., description="The stage's id or code.")
    request_approval: bool = False
    reason: str = Field(
        "", max_length=2000, description="Why the manager should approve (with request_approval)."
    )
    close_reason: str = Field("", description="To the lost stage (required) or the won stage: a CloseReason.")
    note: str = ""
    closed_on: dt.date | None = None


class MissingOut(Schema):
    item_id: int
    stage_id: int
    kind: str
    label: str


class MoveOut(Schema):
    moved: bool
    approval_id: int | None
    missing: list[MissingOut]
    opportunity: OpportunityDetailOut


class CloseIn(Schema):
    outcome: str = Field(..., description="won or lost.")
    reason: str = Field("", description="A CloseReason; required when lost.")
    note: str = ""
    lost_to: str | None = Field(None, max_length=100, description="The competitor who won (name).")
    closed_on: dt.date | None = None


class ReopenIn(Schema):
    reason: str = Field("", max_length=500)


# --- helpers ---------------------------------------------------------------------------------


def _filters(params: Schema, user: Any) -> dict[str, Any]:
    """The query parameters as the page's filter set reads them; a bad value is a 400 naming the field."""
    data: dict[str, Any] = {}
    for key, value in params.dict().items():
        if value is None:
            continue
        data[key] = value.isoformat() if isinstance(value, dt.date) else value
    f = OpportunityFilter(data, user=user)
    if not f.is_valid():
        raise ValidationError(f.errors.as_data())
    return data


def _detail(user: Any, pk: int) -> Any:
    """The deal with everything :class:`OpportunityDetailOut` shows attached."""
    d = selectors.opportunity_detail(user=user, pk=pk)
    opp = d.opportunity
    opp.api_lines = d.lines
    opp.api_competitors = d.competitors
    opp.api_contacts = d.contacts
    opp.api_members = d.members
    opp.api_checklist = [
        {
            "item_id": r.item.pk,
            "kind": r.item.kind,
            "label": r.label,
            "field": r.item.field,
            "required": r.item.required,
            "satisfied": r.satisfied,
            "done_at": r.entry.done_at if r.entry else None,
            "attachment_id": r.entry.attachment_id if r.entry else None,
            "note": r.entry.note if r.entry else "",
        }
        for r in d.checklist
    ]
    opp.api_visits = [
        {
            "stage": v.visit.stage.code,
            "stage_name": v.stage_label,
            "entered_at": v.visit.entered_at,
            "left_at": v.visit.left_at,
            "days": v.days,
            "approval_id": v.visit.approval_id,
            "missing": list(v.visit.missing or []),
        }
        for v in d.visits
    ]
    opp.api_pending_approval_id = d.pending_approval.pk if d.pending_approval else None
    return opp


def _gate_error(e: StageGateBlocked) -> ApiError:
    return ApiError(
        409,
        GATE_CODE,
        " ".join(e.messages),
        [{"field": f"missing.{m.item_id}", "message": m.label} for m in e.missing],
    )


def _get(request: HttpRequest, pk: int) -> Any:
    return selectors.opportunity_get(user=request.user, pk=pk)


# --- routes ----------------------------------------------------------------------------------


@router.get("", response=list[OpportunityOut])
@paginate(KeysetPagination, ordering=("expected_close_date", "id"))
def list_opportunities(request: HttpRequest, filters: Query[OpportunityParams]):  # type: ignore[no-untyped-def]
    """Deals the caller can see, soonest expected close first, filtered like the opportunities page."""
    return selectors.opportunity_list(user=request.user, filters=_filters(filters, request.user))


@router.post("", response={201: OpportunityDetailOut})
def create_opportunity(request: HttpRequest, payload: OpportunityIn):  # type: ignore[no-untyped-def]
    """A new deal on a customer the caller looks after, in the first stage of the line's playbook."""
    data = payload.dict()
    opp = services.opportunity_create(
        actor=request.user,
        customer=data.pop("customer_id"),
        product_line=data.pop("product_line_id"),
        owner=data.pop("owner_id"),
        lines=[{**line, "product": line.pop("product_id")} for line in data.pop("lines")],
        **data,
    )
    return Status(201, _detail(request.user, opp.pk))


@router.get("/{int:opportunity_id}", response=OpportunityDetailOut)
def get_opportunity(request: HttpRequest, opportunity_id: int):  # type: ignore[no-untyped-def]
    """One deal with its solution, competitors, decision-makers, team, checklist and stage history."""
    return _detail(request.user, opportunity_id)


@router.patch("/{int:opportunity_id}", response=OpportunityDetailOut)
def update_opportunity(request: HttpRequest, opportunity_id: int, payload: OpportunityPatch):  # type: ignore[no-untyped-def]
    """Change the fields sent (``null`` amount / probability / category: back to the computed value)."""
    opp = _get(request, opportunity_id)
    fields = payload.dict(exclude_unset=True)
    if "owner_id" in fields:
        fields["owner"] = fields.pop("owner_id")
    services.opportunity_update(actor=request.user, opportunity=opp, **fields)
    return _detail(request.user, opportunity_id)


@router.put("/{int:opportunity_id}/lines", response=OpportunityDetailOut)
def set_lines(request: HttpRequest, opportunity_id: int, payload: LinesIn):  # type: ignore[no-untyped-def]
    """Replace the configured solution; the amount follows unless it was set by hand."""
    opp = _get(request, opportunity_id)
    lines = [{**line, "product": line.pop("product_id")} for line in payload.dict()["lines"]]
    services.opportunity_lines_set(actor=request.user, opportunity=opp, lines=lines)
    return _detail(request.user, opportunity_id)


@router.post("/{int:opportunity_id}/competitors", response=OpportunityDetailOut)
def set_competitor(request: HttpRequest, opportunity_id: int, payload: CompetitorIn):  # type: ignore[no-untyped-def]
    """Add a competitor to the deal (by name), or update its strengths, weaknesses and threat."""
    opp = _get(request, opportunity_id)
    services.opportunity_competitor_set(actor=request.user, opportunity=opp, **payload.dict())
    return _detail(request.user, opportunity_id)


@router.delete("/{int:opportunity_id}/competitors/{int:competitor_id}", response=OpportunityDetailOut)
def remove_competitor(request: HttpRequest, opportunity_id: int, competitor_id: int):  # type: ignore[no-untyped-def]
    opp = _get(request, opportunity_id)
    services.opportunity_competitor_remove(actor=request.user, opportunity=opp, competitor=competitor_id)
    return _detail(request.user, opportunity_id)


@router.post("/{int:opportunity_id}/contacts", response=OpportunityDetailOut)
def set_contact(request: HttpRequest, opportunity_id: int, payload: ContactIn):  # type: ignore[no-untyped-def]
    """Put a contact of the customer on the deal with their role in the decision and their attitude."""
    opp = _get(request, opportunity_id)
    data = payload.dict()
    services.opportunity_contact_set(
        actor=request.user, opportunity=opp, contact=data.pop("contact_id"), **data
    )
    return _detail(request.user, opportunity_id)


@router.delete("/{int:opportunity_id}/contacts/{int:contact_id}", response=OpportunityDetailOut)
def remove_contact(request: HttpRequest, opportunity_id: int, contact_id: int):  # type: ignore[no-untyped-def]
    opp = _get(request, opportunity_id)
    services.opportunity_contact_remove(actor=request.user, opportunity=opp, contact=contact_id)
    return _detail(request.user, opportunity_id)


@router.post("/{int:opportunity_id}/members", response=OpportunityDetailOut)
def add_member(request: HttpRequest, opportunity_id: int, payload: MemberIn):  # type: ignore[no-untyped-def]
    """Add a person to the virtual team (they may then see and work the deal)."""
    opp = _get(request, opportunity_id)
    services.opportunity_member_add(
        actor=request.user, opportunity=opp, user=payload.user_id, role=payload.role
    )
    return _detail(request.user, opportunity_id)


@router.delete("/{int:opportunity_id}/members/{int:member_id}", response=OpportunityDetailOut)
def remove_member(request: HttpRequest, opportunity_id: int, member_id: int):  # type: ignore[no-untyped-def]
    """Take a person off the team (not the owner: reassign the deal instead)."""
    opp = _get(request, opportunity_id)
    services.opportunity_member_remove(actor=request.user, opportunity=opp, member=member_id)
    return _detail(request.user, opportunity_id)


@router.post("/{int:opportunity_id}/checklist/{int:item_id}", response=OpportunityDetailOut)
def set_checklist(request: HttpRequest, opportunity_id: int, item_id: int, payload: ChecklistIn):  # type: ignore[no-untyped-def]
    """Tick or untick a key task (a document is attached with ``…/document``)."""
    opp = _get(request, opportunity_id)
    services.checklist_set(
        actor=request.user, opportunity=opp, item=item_id, done=payload.done, note=payload.note
    )
    return _detail(request.user, opportunity_id)


@router.post("/{int:opportunity_id}/checklist/{int:item_id}/document", response=OpportunityDetailOut)
def attach_document(
    request: HttpRequest,
    opportunity_id: int,
    item_id: int,
    file: File[UploadedFile],
    note: Form[str] = "",  # type: ignore[type-arg]
):  # type: ignore[no-untyped-def]
    """Attach a required document (multipart ``file``); it completes the item."""
    opp = _get(request, opportunity_id)
    services.checklist_set(
        actor=request.user, opportunity=opp, item=item_id, done=True, note=note, uploaded_file=file
    )
    return _detail(request.user, opportunity_id)


@router.post("/{int:opportunity_id}/stage", response=MoveOut)
def move_stage(request: HttpRequest, opportunity_id: int, payload: MoveIn):  # type: ignore[no-untyped-def]
    """Move to a stage through the playbook's gate: 409 listing the missing items, or, with
    ``request_approval``, an approval request to the manager (``moved`` false, ``approval_id`` set)."""
    opp = _get(request, opportunity_id)
    to_stage: Any = payload.to_stage
    try:
        result = services.opportunity_stage_move(
            actor=request.user,
            opportunity=opp,
            to_stage=to_stage,
            request_approval=payload.request_approval,
            reason=payload.reason,
            close_reason=payload.close_reason,
            note=payload.note,
            closed_on=payload.closed_on,
        )
    except StageGateBlocked as e:
        raise _gate_error(e)
    return {
        "moved": result.moved,
        "approval_id": result.approval.pk if result.approval is not None else None,
        "missing": [
            {"item_id": m.item_id, "stage_id": m.stage_id, "kind": m.kind, "label": m.label}
            for m in result.missing
        ],
        "opportunity": _detail(request.user, opportunity_id),
    }


@router.post("/{int:opportunity_id}/close", response=OpportunityDetailOut)
def close_opportunity(request: HttpRequest, opportunity_id: int, payload: CloseIn):  # type: ignore[no-untyped-def]
    """Close as won (through the gate: 409 when items are missing) or lost (with a reason)."""
    opp = _get(request, opportunity_id)
    try:
        services.opportunity_close(actor=request.user, opportunity=opp, **payload.dict())
    except StageGateBlocked as e:
        raise _gate_error(e)
    return _detail(request.user, opportunity_id)


@router.post("/{int:opportunity_id}/reopen", response=OpportunityDetailOut)
def reopen_opportunity(request: HttpRequest, opportunity_id: int, payload: ReopenIn):  # type: ignore[no-untyped-def]
    """Reopen a closed deal (its owner or a manager): back to its last open stage."""
    opp = _get(request, opportunity_id)
    services.opportunity_reopen(actor=request.user, opportunity=opp, reason=payload.reason)
    return _detail(request.user, opportunity_id)
