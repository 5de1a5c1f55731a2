"""The forecast over the API (/api/v1/sales/forecast/), scoped exactly like the pages.

- ``GET /`` — the forecast: per close month every category (pipeline, best case, commit, won, lost,
  omitted), the weighted figure and the roll-ups (``commit_rollup`` = commit + won, ``best_case_rollup``
  = best case + commit + won, ``pipeline_rollup`` = pipeline + best case + commit + won), for the grand
  total and every node of the org tree (units, then their people), with the managers' adjusted
  figures beside the system ones (``adjusted``; none when a product line is chosen). Parameters:
  ``start`` (``YYYY-MM``, default this month), ``months`` (3, 6, 9, 12; default 6), ``product_line``,
  ``unit`` (viewers beyond their own records).
- ``GET /adjustments`` (keyset pages, newest first) and ``POST /adjustments`` (managers, for people and
  units within their scope: 403 for others, 404 for a subject outside their scope, 400 on bad values).
- ``GET /snapshots``, ``GET /snapshots/{id}``, ``GET /snapshots/{id}/rows`` (the rows the caller may see),
  ``GET /snapshots/{id}/movement`` (snapshot vs now per month and category), ``POST /snapshots``
  (administrators). Snapshots are immutable: there is no route that changes or deletes one.
- ``GET /accuracy`` — per rep and unit, the last ``months`` closed months (``basis`` commit or weighted).
- ``GET /calibration`` — per stage of a product line's playbook: configured vs historical probability.

Bad parameters answer 422 with field details.
"""

# No ``from __future__ import annotations``: ninja resolves the schemas' annotations at runtime.

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema, Status

from steelyard.core.api.errors import VALIDATION_ERROR, ApiError
from steelyard.core.api.pagination import KeysetPagination, paginate
from steelyard.sales.forms_forecast import AccuracyFilter, AdjustmentFilter, CalibrationFilter, ForecastFilter
from steelyard.sales.selectors import forecast as sel
from steelyard.sales.services.forecast import (
    ERR_NOT_MANAGER,
    forecast_adjustment_create,
    forecast_snapshot_take,
)

router = Router(tags=["sales"])

MSG_INVALID = _("Some fields are not valid.")
MSG_NOT_ALLOWED = _("This parameter is not available to you.")
ERR_SUBJECT_BOTH = _("Give either subject_user_id or subject_unit_id.")
ERR_NO_LINE = _("Choose a product line.")


# --- parameters ---------------------------------------------------------------------------------


class ForecastParams(Schema):
    start: str | None = Field(
        None, max_length=10, description="First close month, YYYY-MM (default: this month)."
    )
    months: int | None = Field(None, description="How many months: 3, 6, 9 or 12 (default 6).")
    product_line: int | None = Field(None, description="Product line id; default: every line.")
    unit: int | None = Field(
        None, description="Org unit id: its subtree. Not for callers who see only their own."
    )


class AccuracyParams(Schema):
    months: int | None = Field(None, description="The last 3, 6 or 12 closed months (default 6).")
    basis: str | None = Field(None, description="commit (commit + won, default) or weighted.")
    product_line: int | None = None
    unit: int | None = None


class CalibrationParams(Schema):
    product_line: int | None = Field(None, description="Product line id (default: the first line).")
    closed: int | None = Field(None, description="Closed in the last 12, 24 (default) or 36 months; 0: all.")
    unit: int | None = None


class AdjustmentParams(Schema):
    subject_user: int | None = None
    subject_unit: int | None = None
    month: str | None = Field(None, max_length=10, description="YYYY-MM")
    category: str | None = Field(None, description="commit, best_case or pipeline")


def _bind(form_class: Any, request: HttpRequest, params: Schema) -> Any:
    """Validate ``params`` with the page's filter form; unknown or refused parameters answer 422."""
    data = {k: str(v) for k, v in params.dict().items() if v is not None}
    f = form_class(data, user=request.user)
    fields = [{"field": f"query.{k}", "message": str(MSG_NOT_ALLOWED)} for k in data if k not in f.fields]
    for name, errors in f.errors.items():
        fields += [{"field": f"query.{name}", "message": str(e)} for e in errors]
    if fields:
        raise ApiError(422, VALIDATION_ERROR, str(MSG_INVALID), fields)
    return f


# --- forecast -----------------------------------------------------------------------------------


class AdjustedOut(Schema):
    commit: Decimal
    best_case: Decimal
    pipeline: Decimal


class FiguresOut(Schema):
    month: dt.date | None = Field(None, description="Empty: the total of the months.")
    pipeline: Decimal
    best_case: Decimal
    commit: Decimal
    won: Decimal
    lost: Decimal
    omitted: Decimal
    weighted: Decimal
    commit_rollup: Decimal
    best_case_rollup: Decimal
    pipeline_rollup: Decimal
    counts: dict[str, int]
    adjusted: AdjustedOut | None = Field(
        None, description="Managers: the adjusted roll-ups (system if none)."
    )


class NodeOut(Schema):
    key: str
    kind: str = Field(description="unit, person, none (no unit) or total")
    name: str
    unit_id: int | None
    user_id: int | None
    months: list[FiguresOut]
    total: FiguresOut
    children: list["NodeOut"]


NodeOut.model_rebuild()


class ForecastOut(Schema):
    months: list[dt.date]
    product_line_id: int | None
    unit_id: int | None
    adjusted_shown: bool
    total: NodeOut
    tree: list[NodeOut]


def _figures(node: sel.Node, month: dt.date | None, months: list[dt.date], adjusted: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"month": month}
    for measure in sel.SUMMARY_MEASURES:
        out[measure] = sel.cents_to_money(node.value(month, measure))
    out["counts"] = {str(c): node.s().count(month, c) for c in sel.RAW_CATEGORIES}
    if adjusted:
        out["adjusted"] = {
            c: sel.cents_to_money(node.adjusted_value(month, c, months)) for c in sel.ADJUSTABLE
        }
    return out


def _node(node: sel.Node, months: list[dt.date], adjusted: bool) -> dict[str, Any]:
    return {
        "key": node.key,
        "kind": node.kind,
        "name": node.name,
        "unit_id": node.unit_id,
        "user_id": node.user_id,
        "months": [_figures(node, m, months, adjusted) for m in months],
        "total": _figures(node, None, months, adjusted),
        "children": [_node(c, months, adjusted) for c in node.children],
    }


@router.get("/", response=ForecastOut)
def forecast(request: HttpRequest, params: Query[ForecastParams]):  # type: ignore[no-untyped-def]
    """The forecast by close month, its roll-ups and the org tree (scoped to the caller)."""
    f = _bind(ForecastFilter, request, params)
    q = f.query()
    tree = sel.forecast_tree(request.user, q, adjustments=not q.product_line_id)
    adjusted = tree.show_adjusted and not q.product_line_id
    return {
        "months": q.months,
        "product_line_id": q.product_line_id,
        "unit_id": q.unit.pk if q.unit else None,
        "adjusted_shown": adjusted,
        "total": _node(tree.total, q.months, adjusted),
        "tree": [_node(r, q.months, adjusted) for r in tree.roots],
    }


# --- adjustments --------------------------------------------------------------------------------


class AdjustmentOut(Schema):
    id: int
    subject_user_id: int | None
    subject_unit_id: int | None
    month: dt.date
    category: str
    amount: Decimal
    note: str
    author_id: int
    created_at: dt.datetime


class AdjustmentIn(Schema):
    subject_user_id: int | None = None
    subject_unit_id: int | None = None
    month: dt.date = Field(description="Any day of the month (the first day is stored).")
    category: str = Field(description="commit, best_case or pipeline: the roll-up the figure replaces.")
    amount: Decimal = Field(description="The manager's figure, yuan, ≥ 0, to the cent.")
    note: str = Field("", max_length=300)


@router.get("/adjustments", response=list[AdjustmentOut])
@paginate(KeysetPagination, ordering=("-created_at",))
def list_adjustments(request: HttpRequest, params: Query[AdjustmentParams]):  # type: ignore[no-untyped-def]
    """Adjustments the caller may see (their own and those of the people below them), newest first."""
    f = _bind(AdjustmentFilter, request, params)
    return f.filter_queryset(sel.adjustment_list(request.user), f.valid_data)


@router.post("/adjustments", response={201: AdjustmentOut})
def create_adjustment(request: HttpRequest, payload: AdjustmentIn):  # type: ignore[no-untyped-def]
    """A manager's figure for a person or unit they manage; earlier ones stay as history."""
    if not sel.can_adjust(request.user):
        raise PermissionDenied(str(ERR_NOT_MANAGER))
    if (payload.subject_user_id is None) == (payload.subject_unit_id is None):
        raise ApiError(
            400,
            VALIDATION_ERROR,
            str(MSG_INVALID),
            [{"field": "body.subject_user_id", "message": str(ERR_SUBJECT_BOTH)}],
        )
    if payload.subject_user_id is not None:
        target = sel.subject_resolve(request.user, sel.Subject("user", payload.subject_user_id))
        kwargs = {"subject_user": target}
    else:
        target = sel.subject_resolve(request.user, sel.Subject("unit", payload.subject_unit_id or 0))
        kwargs = {"subject_unit": target}
    adjustment = forecast_adjustment_create(
        actor=request.user,
        month=payload.month,
        category=payload.category,
        amount=payload.amount,
        note=payload.note,
        **kwargs,
    )
    return Status(201, adjustment)


# --- snapshots ----------------------------------------------------------------------------------


class SnapshotOut(Schema):
    id: int
    taken_at: dt.datetime
    week: dt.date
    is_weekly: bool
    taken_by_id: int | None
    rows_count: int


class SnapshotRowOut(Schema):
    id: int
    owner_id: int
    org_unit_id: int | None
    product_line_id: int
    month: dt.date
    category: str
    count: int
    amount: Decimal
    weighted: Decimal

    @staticmethod
    def resolve_amount(obj: Any) -> Decimal:
        return sel.cents_to_money(obj.amount_cents) or Decimal("0")

    @staticmethod
    def resolve_weighted(obj: Any) -> Decimal:
        return sel.cents_to_money(obj.weighted_cents) or Decimal("0")


class MovementOut(Schema):
    month: dt.date | None
    category: str
    snapshot: Decimal
    now: Decimal
    change: Decimal


class SnapshotMovementOut(Schema):
    snapshot: SnapshotOut
    months: list[dt.date]
    movement: list[MovementOut]


@router.get("/snapshots", response=list[SnapshotOut])
@paginate(KeysetPagination, ordering=("-taken_at",))
def list_snapshots(request: HttpRequest):  # type: ignore[no-untyped-def]
    """Every snapshot, newest first (their rows are scoped: ``/snapshots/{id}/rows``)."""
    return sel.snapshot_list()


@router.get("/snapshots/{int:snapshot_id}", response=SnapshotOut)
def get_snapshot(request: HttpRequest, snapshot_id: int):  # type: ignore[no-untyped-def]
    return sel.snapshot_get(snapshot_id)


@router.get("/snapshots/{int:snapshot_id}/rows", response=list[SnapshotRowOut])
@paginate(KeysetPagination, ordering=("id",))
def snapshot_rows(request: HttpRequest, snapshot_id: int):  # type: ignore[no-untyped-def]
    """The snapshot's copies of the forecast cells the caller may see."""
    return sel.snapshot_row_list(request.user, sel.snapshot_get(snapshot_id))


@router.get("/snapshots/{int:snapshot_id}/movement", response=SnapshotMovementOut)
def snapshot_movement(request: HttpRequest, snapshot_id: int, params: Query[ForecastParams]):  # type: ignore[no-untyped-def]
    """Per month and category: the figure in the snapshot, today's, and the change."""
    snapshot = sel.snapshot_get(snapshot_id)
    f = _bind(ForecastFilter, request, params)
    q = f.query()
    tree = sel.forecast_tree(request.user, q, compare=snapshot, adjustments=False)
    movement = []
    for month in [*q.months, None]:
        for measure in sel.SUMMARY_MEASURES:
            then = tree.total.value(month, measure, sel.THEN)
            now = tree.total.value(month, measure, sel.NOW)
            movement.append(
                {
                    "month": month,
                    "category": measure,
                    "snapshot": sel.cents_to_money(then),
                    "now": sel.cents_to_money(now),
                    "change": sel.cents_to_money(now - then),
                }
            )
    return {"snapshot": snapshot, "months": q.months, "movement": movement}


@router.post("/snapshots", response={201: SnapshotOut})
def take_snapshot(request: HttpRequest):  # type: ignore[no-untyped-def]
    """Take a snapshot now (administrators); weekly ones are taken by the Monday job."""
    return Status(201, forecast_snapshot_take(actor=request.user, weekly=False))


# --- accuracy -----------------------------------------------------------------------------------


class AccuracyMonthOut(Schema):
    month: dt.date
    forecast: Decimal | None
    actual: Decimal
    accuracy: Decimal | None = Field(description="Percent; null when undefined (no snapshot, forecast 0).")


class AccuracyRowOut(Schema):
    key: str
    parent: str | None
    kind: str
    name: str
    unit_id: int | None
    user_id: int | None
    months: list[AccuracyMonthOut]
    forecast: Decimal | None
    actual: Decimal
    accuracy: Decimal | None


class SnapshotUsedOut(Schema):
    month: dt.date
    snapshot_id: int | None
    taken_at: dt.datetime | None


class AccuracyOut(Schema):
    basis: str
    months: list[dt.date]
    snapshots: list[SnapshotUsedOut]
    total: AccuracyRowOut
    rows: list[AccuracyRowOut]


def _accuracy_row(result: sel.AccuracyResult, node: sel.Node) -> dict[str, Any]:
    return {
        "key": node.key,
        "parent": node.parent.key if node.parent is not None else None,
        "kind": node.kind,
        "name": node.name,
        "unit_id": node.unit_id,
        "user_id": node.user_id,
        "months": [
            {
                "month": m,
                "forecast": sel.cents_to_money(result.forecast(node, m)),
                "actual": sel.cents_to_money(result.actual(node, m)),
                "accuracy": result.accuracy(node, m),
            }
            for m in result.months
        ],
        "forecast": sel.cents_to_money(result.forecast_total(node)),
        "actual": sel.cents_to_money(result.actual_total(node)),
        "accuracy": result.accuracy_all(node),
    }


@router.get("/accuracy", response=AccuracyOut)
def accuracy(request: HttpRequest, params: Query[AccuracyParams]):  # type: ignore[no-untyped-def]
    """Forecast accuracy per unit and rep: the last snapshot before each month vs what was won in it."""
    f = _bind(AccuracyFilter, request, params)
    data = f.valid_data
    result = sel.forecast_accuracy(
        request.user,
        months=data.get("months") or sel.DEFAULT_ACCURACY_MONTHS,
        basis=data.get("basis") or sel.BASIS_COMMIT,
        product_line_id=data["product_line"].pk if data.get("product_line") else None,
        unit=data.get("unit"),
    )
    return {
        "basis": result.basis,
        "months": result.months,
        "snapshots": [
            {
                "month": m,
                "snapshot_id": s.pk if s else None,
                "taken_at": s.taken_at if s else None,
            }
            for m, s in result.snapshots.items()
        ],
        "total": _accuracy_row(result, result.tree.total),
        "rows": [_accuracy_row(result, n) for n in result.tree.rows()],
    }


# --- calibration --------------------------------------------------------------------------------


class StageOut(Schema):
    code: str
    name: str
    order: int | None
    configured: Decimal | None
    recalibrated: Decimal | None
    reached: int
    won: int
    lost: int


class CalibrationOut(Schema):
    product_line_id: int
    playbook_id: int | None
    closed_from: dt.date | None
    closed: int
    won: int
    win_rate: Decimal | None
    stages: list[StageOut]


@router.get("/calibration", response=CalibrationOut)
def calibration(request: HttpRequest, params: Query[CalibrationParams]):  # type: ignore[no-untyped-def]
    """Per stage: the configured probability and the share of closed deals that reached it and were won."""
    f = _bind(CalibrationFilter, request, params)
    data = f.valid_data
    line = data.get("product_line")
    if line is None:
        raise ApiError(
            422,
            VALIDATION_ERROR,
            str(MSG_INVALID),
            [{"field": "query.product_line", "message": str(ERR_NO_LINE)}],
        )
    result = sel.forecast_calibration(
        request.user,
        product_line=line,
        closed_months=data["closed"] if data.get("closed") is not None else sel.DEFAULT_CLOSED_MONTHS,
        unit=data.get("unit"),
    )
    return {
        "product_line_id": line.pk,
        "playbook_id": result.playbook.pk if result.playbook else None,
        "closed_from": result.closed_from,
        "closed": result.closed,
        "won": result.won,
        "win_rate": result.win_rate,
        "stages": [
            {
                "code": s.code,
                "name": s.name,
                "order": s.order,
                "configured": s.configured,
                "recalibrated": s.recalibrated,
                "reached": s.reached,
                "won": s.won,
                "lost": s.lost,
            }
            for s in result.stages
        ],
    }
