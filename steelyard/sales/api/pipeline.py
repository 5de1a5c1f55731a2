"""The pipeline API (mounted at /api/v1/sales/pipeline): the board, moving a card, the funnel's figures
with their drill-down, and the deals at risk — scoped exactly like the pages (a rep sees their own deals,
a manager their team's; an outsider's figures never include them).

- ``GET board`` (``product_line``, ``playbook``, ``owner``, ``org_unit``, ``close_month`` YYYY-MM,
  ``flag``, ``cap``): the columns of one process version with counts, amounts and the first cards;
  ``GET board/columns/{stage_id}/cards`` (same filters, ``offset``, ``limit``) pages one column.
- ``POST move`` ``{opportunity, to_stage, request_approval, reason, close_reason, note}``: the playbook's
  gates; blocked → **409** ``stage_gate`` with one ``fields`` entry per missing item (``missing.<id>``).
- ``GET funnel | conversion | velocity | outcomes`` (``date_from``, ``date_to``, ``basis`` created |
  closed, ``product_line``, ``org_unit``, ``owner``; outcomes also ``dimension`` product_line | org_unit
  | owner): see ``selectors.pipeline`` for the definitions. ``GET deals`` (+ ``metric``, ``stage``,
  ``unit_exact``) lists the deals behind a number, keyset-paginated.
- ``GET risks`` (``flag``, ``product_line``, ``org_unit``, ``owner``): open deals with risk flags,
  keyset-paginated; ``GET risks/summary``: per rep, deals at risk and each flag's count.

Bad parameters answer 422 with field details; parameters only managers may use (``owner``,
``org_unit``) answer 422 for a rep.
"""

# No ``from __future__ import annotations``: ninja resolves the schemas' annotations at runtime.

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema

from steelyard.core.api.errors import FORBIDDEN, VALIDATION_ERROR, ApiError
from steelyard.core.api.pagination import KeysetPagination, paginate
from steelyard.sales.models import Opportunity
from steelyard.sales.selectors import pipeline as sel
from steelyard.sales.services.stages import StageGateBlocked

router = Router(tags=["sales"])

GATE_CODE = "stage_gate"
MAX_CAP = 100
MSG_INVALID = _("Some fields are not valid.")
MSG_NOT_ALLOWED = _("This parameter is not available to you.")
MSG_NO_PROCESS = _("No sales process is active for this product line.")
MSG_STAGE = _("Choose a stage of this deal's process.")


# --- parameters --------------------------------------------------------------------------------------


class BoardParams(Schema):
    product_line: int | None = Field(None, description="Product line id; default: the first with a process.")
    playbook: int | None = Field(
        None, description="Process version (playbook id) of that line; default: active."
    )
    owner: int | None = Field(None, description="A rep's user id (managers).")
    org_unit: int | None = Field(None, description="An org unit id; its subtree (managers).")
    close_month: str | None = Field(
        None, max_length=7, description="YYYY-MM: closing / closed in that month."
    )
    flag: str | None = Field(None, max_length=20, description="Only deals carrying this RiskFlag.")
    cap: int = Field(sel.BOARD_CAP, ge=0, le=MAX_CAP, description="Cards per column (0–100).")


class ColumnParams(BoardParams):
    offset: int = Field(0, ge=0)
    limit: int = Field(sel.BOARD_CAP, ge=1, le=MAX_CAP)


class FunnelParams(Schema):
    date_from: dt.date | None = Field(None, description="First day of the period (default: a year back).")
    date_to: dt.date | None = Field(None, description="Last day of the period (default: today).")
    basis: Literal["created", "closed"] | None = Field(
        None, description="created: deals created in the period; closed: closing or closed in it."
    )
    product_line: int | None = None
    org_unit: int | None = Field(None, description="An org unit id; its subtree (managers).")
    owner: int | None = Field(None, description="A rep's user id (managers).")


class OutcomeParams(FunnelParams):
    dimension: Literal["product_line", "org_unit", "owner"] = "product_line"


class DrillParams(FunnelParams):
    metric: Literal["open", "reached", "stayed", "won", "lost", "closed"] = "open"
    stage: str | None = Field(None, max_length=30, description="A stage code (open, reached, stayed).")
    unit_exact: int | None = Field(None, description="Only deals of exactly this org unit.")


class RiskParams(Schema):
    flag: str | None = Field(None, max_length=20)
    product_line: int | None = None
    org_unit: int | None = None
    owner: int | None = None


class MoveIn(Schema):
    opportunity: int
    to_stage: int = Field(..., description="A stage id of the deal's process.")
    request_approval: bool = False
    reason: str = Field("", max_length=2000, description="Why the manager should approve.")
    close_reason: str = Field("", max_length=20, description="To the lost stage: a CloseReason (required).")
    note: str = Field("", max_length=2000)


def _data(params: Schema, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        k: (v.isoformat() if isinstance(v, dt.date) else str(v))
        for k, v in params.dict().items()
        if v is not None and k not in drop
    }


def _check(f: Any, data: dict[str, Any], known: tuple[str, ...] = ()) -> None:
    """422 for fields the filter refused, or that it does not offer to this caller."""
    fields = [
        {"field": f"query.{k}", "message": str(MSG_NOT_ALLOWED)}
        for k in data
        if k not in f.fields and k not in known
    ]
    for name, errors in f.errors.items():
        if name == "__all__":
            fields += [{"field": "query", "message": str(e)} for e in errors]
        else:
            fields += [{"field": f"query.{name}", "message": str(e)} for e in errors]
    if fields:
        raise ApiError(422, VALIDATION_ERROR, str(MSG_INVALID), fields)


def _board(request: HttpRequest, params: BoardParams, known: tuple[str, ...] = ("cap",)) -> sel.BoardContext:
    data = _data(params, drop=("offset", "limit"))
    ctx = sel.board_context(user=request.user, data=data)
    _check(ctx.filter, data, known)
    if ctx.playbook is None:
        raise ApiError(404, "not_found", str(MSG_NO_PROCESS))
    return ctx


def _funnel(request: HttpRequest, params: Schema, *, drill: bool = False) -> sel.FunnelContext:
    data = _data(params, drop=("dimension",))
    ctx = sel.funnel_context(user=request.user, data=data, drill=drill)
    _check(ctx.filter, data)
    return ctx


# --- schemas -----------------------------------------------------------------------------------------


class StageOut(Schema):
    id: int
    code: str
    name: str
    name_en: str
    order: int
    probability: Decimal
    is_won: bool
    is_lost: bool


class CardOut(Schema):
    id: int
    number: str
    name: str
    customer_id: int
    customer_name: str = Field(..., alias="customer.legal_name")
    amount: Decimal
    currency: str
    expected_close_date: dt.date
    closed_on: dt.date | None
    status: str
    stage_id: int
    owner_id: int
    owner: str = Field(..., alias="owner.username")
    risk_flags: list[str] = Field(..., alias="flags")
    movable: bool = Field(False, description="The caller may move this deal.")


class ColumnOut(Schema):
    stage: StageOut
    count: int
    amount: Decimal
    cards: list[CardOut]
    has_more: bool


class VersionOut(Schema):
    id: int
    name: str
    version: int
    status: str
    product_line_id: int | None


class BoardOut(Schema):
    product_line_id: int | None
    playbook: VersionOut
    versions: list[VersionOut]
    columns: list[ColumnOut]


class CardsOut(Schema):
    cards: list[CardOut]
    has_more: bool


class MissingOut(Schema):
    item_id: int
    stage_id: int
    kind: str
    label: str


class MoveOut(Schema):
    moved: bool
    approval_id: int | None
    card: CardOut


class PeriodOut(Schema):
    date_from: dt.date
    date_to: dt.date
    basis: str
    product_line_id: int | None
    org_unit_id: int | None
    owner_id: int | None


class FunnelStageOut(Schema):
    code: str
    label: str
    count: int
    amount: Decimal


class FunnelTotal(Schema):
    count: int
    amount: Decimal


class FunnelOut(Schema):
    period: PeriodOut
    stages: list[FunnelStageOut]
    total: FunnelTotal


class ConversionStageOut(Schema):
    code: str
    label: str
    reached: int
    next_code: str | None
    next_reached: int | None
    conversion_pct: Decimal | None


class ConversionOut(Schema):
    period: PeriodOut
    stages: list[ConversionStageOut]
    entered: int
    won: int
    overall_pct: Decimal | None


class VelocityStageOut(Schema):
    code: str
    label: str
    stays: int
    avg_days: Decimal | None


class VelocityOut(Schema):
    period: PeriodOut
    stages: list[VelocityStageOut]
    total_days: Decimal


class OutcomeFigures(Schema):
    open_count: int
    open_amount: Decimal
    won_count: int
    won_amount: Decimal
    lost_count: int
    closed_count: int
    win_rate_pct: Decimal | None
    cycle_days: Decimal | None


class OutcomeRow(OutcomeFigures):
    key: int | None
    label: str


class OutcomesOut(Schema):
    period: PeriodOut
    dimension: str
    rows: list[OutcomeRow]
    total: OutcomeFigures
    more: int = Field(..., description="Rows left out (reps beyond the largest 50).")


class DealOut(Schema):
    id: int
    number: str
    name: str
    customer_id: int
    customer_name: str = Field(..., alias="customer.legal_name")
    product_line_id: int
    stage: str = Field(..., alias="stage.code")
    status: str
    amount: Decimal
    currency: str
    expected_close_date: dt.date
    closed_on: dt.date | None
    created_at: dt.datetime
    owner_id: int
    org_unit_id: int | None
    risk_flags: list[str] = Field(..., alias="flags")


class RiskRepOut(Schema):
    owner_id: int
    owner: str
    deals: int
    amount: Decimal
    flags: dict[str, int]


class RiskSummaryOut(Schema):
    rows: list[RiskRepOut]
    more: int
    total: dict[str, Any]


def _period(ctx: sel.FunnelContext) -> dict[str, Any]:
    return {
        "date_from": ctx.start,
        "date_to": ctx.end,
        "basis": ctx.basis,
        "product_line_id": ctx.line.pk if ctx.line else None,
        "org_unit_id": ctx.unit.pk if ctx.unit else None,
        "owner_id": ctx.owner.pk if ctx.owner else None,
    }


# --- board -------------------------------------------------------------------------------------------


@router.get("/board", response=BoardOut)
def board(request: HttpRequest, params: Query[BoardParams]):  # type: ignore[no-untyped-def]
    """The Kanban board of one process version: every stage with its count, amount and first cards."""
    ctx = _board(request, params)
    columns = sel.board_columns(ctx, cap=params.cap)
    return {
        "product_line_id": ctx.line.pk if ctx.line else None,
        "playbook": ctx.playbook,
        "versions": ctx.versions,
        "columns": [
            {"stage": c.stage, "count": c.count, "amount": c.amount, "cards": c.cards, "has_more": c.has_more}
            for c in columns
        ],
    }


@router.get("/board/columns/{int:stage_id}/cards", response=CardsOut)
def board_column(request: HttpRequest, stage_id: int, params: Query[ColumnParams]):  # type: ignore[no-untyped-def]
    """More cards of one column, in the board's order."""
    ctx = _board(request, params, known=("cap", "offset", "limit"))
    stage = sel.board_stage(ctx, stage_id)
    if stage is None:
        raise Http404
    cards, more = sel.board_column_cards(ctx, stage, offset=params.offset, limit=params.limit)
    return {"cards": cards, "has_more": more}


@router.post("/move", response=MoveOut)
def move(request: HttpRequest, payload: MoveIn):  # type: ignore[no-untyped-def]
    """Move a deal to another stage of its process, through the playbook's gate (see the module doc)."""
    from steelyard.sales.services.opportunities import opportunity_stage_move

    opp = (
        Opportunity.objects.visible_to(request.user)
        .select_related("playbook")
        .filter(pk=payload.opportunity)
        .first()
    )
    if opp is None:
        raise Http404
    stage = opp.playbook.stages.filter(pk=payload.to_stage).first()
    if stage is None:
        raise ValidationError({"to_stage": [str(MSG_STAGE)]})
    try:
        result = opportunity_stage_move(
            actor=request.user,
            opportunity=opp,
            to_stage=stage,
            request_approval=payload.request_approval,
            reason=payload.reason,
            close_reason=payload.close_reason,
            note=payload.note,
        )
    except StageGateBlocked as e:
        raise ApiError(
            409,
            GATE_CODE,
            " ".join(e.messages),
            [{"field": f"missing.{m.item_id}", "message": m.label} for m in e.missing],
        )
    except PermissionDenied as e:
        raise ApiError(403, FORBIDDEN, str(e) or str(_("You may not change this deal.")))
    ctx = sel.board_context(user=request.user, data={"product_line": str(opp.product_line_id)})
    card, _shown = sel.board_card(ctx, opp.pk)
    return {
        "moved": result.moved,
        "approval_id": result.approval.pk if result.approval is not None else None,
        "card": card,
    }


# --- funnel ------------------------------------------------------------------------------------------


@router.get("/funnel", response=FunnelOut)
def funnel(request: HttpRequest, params: Query[FunnelParams]):  # type: ignore[no-untyped-def]
    """Open deals of the period by current stage: count and amount."""
    ctx = _funnel(request, params)
    return {"period": _period(ctx), **sel.funnel_open(ctx)}


@router.get("/conversion", response=ConversionOut)
def conversion(request: HttpRequest, params: Query[FunnelParams]):  # type: ignore[no-untyped-def]
    """Deals that reached each stage (skipped stages count) and the stage-to-stage conversion."""
    ctx = _funnel(request, params)
    return {"period": _period(ctx), **sel.funnel_conversion(ctx)}


@router.get("/velocity", response=VelocityOut)
def velocity(request: HttpRequest, params: Query[FunnelParams]):  # type: ignore[no-untyped-def]
    """Average days per stage over the completed stays of the period's deals."""
    ctx = _funnel(request, params)
    return {"period": _period(ctx), **sel.funnel_velocity(ctx)}


@router.get("/outcomes", response=OutcomesOut)
def outcomes(request: HttpRequest, params: Query[OutcomeParams]):  # type: ignore[no-untyped-def]
    """Open pipeline, won, lost, win rate and cycle time per product line, org unit or rep."""
    ctx = _funnel(request, params)
    return {"period": _period(ctx), **sel.funnel_outcomes(ctx, params.dimension)}


@router.get("/deals", response=list[DealOut])
@paginate(KeysetPagination, ordering=("-amount", "-id"))
def deals(request: HttpRequest, params: Query[DrillParams]):  # type: ignore[no-untyped-def]
    """The deals behind one number of the figures above (scoped and filtered like them)."""
    ctx = _funnel(request, params, drill=True)
    if params.stage and ctx.stage(params.stage) is None:
        raise ApiError(
            422, VALIDATION_ERROR, str(MSG_INVALID), [{"field": "query.stage", "message": str(sel.ERR_STAGE)}]
        )
    return sel.funnel_drill(ctx, metric=params.metric, stage=params.stage, unit_exact=params.unit_exact)


# --- risks -------------------------------------------------------------------------------------------


def _risk_data(request: HttpRequest, params: RiskParams) -> dict[str, Any]:
    data = _data(params)
    f = sel.RiskFilter(data, user=request.user)
    _check(f, data)
    return data


@router.get("/risks", response=list[DealOut])
@paginate(KeysetPagination, ordering=("expected_close_date", "id"))
def risks(request: HttpRequest, params: Query[RiskParams]):  # type: ignore[no-untyped-def]
    """Open deals carrying a risk flag, soonest expected close first."""
    _f, qs = sel.risk_list(user=request.user, data=_risk_data(request, params))
    return qs


@router.get("/risks/summary", response=RiskSummaryOut)
def risks_summary(request: HttpRequest, params: Query[RiskParams]):  # type: ignore[no-untyped-def]
    """Per rep: open deals at risk, their amount and how many carry each flag (the largest 50 reps)."""
    return sel.risk_summary(user=request.user, data=_risk_data(request, params))
