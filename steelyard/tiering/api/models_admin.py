"""Tier models over the API (/api/v1/tiers/models/): models with their tiers and factors, activation,
copies per product line, the preview of unsaved settings, starting a run, runs and their migration
matrix, and the assessments of a run.

Reading models and runs is open to anyone signed in (configuration, no customer data); every write, the
preview and starting a run are for administrators (403 otherwise). A run's matrix and assessments are
counted over the caller's data scope (``visible_to``), like the pages. Bad settings answer 400 with one
entry per field (``tiers.1.min_score``, ``weights.revenue_12m``...); malformed payloads 422.
"""

# No ``from __future__ import annotations``: ninja resolves the schemas' annotations at runtime.

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema, Status

from steelyard.catalog.models import ProductLine
from steelyard.core.api.errors import FORBIDDEN, ApiError
from steelyard.core.api.pagination import KeysetPagination, paginate
from steelyard.tiering.models import Assessment, AssessmentRun, TierModel
from steelyard.tiering.selectors import models_admin as selectors
from steelyard.tiering.services import models_admin as services

router = Router(tags=["tiers"])

ERR_UNKNOWN_LINE = _("Unknown product line.")


# --- schemas ------------------------------------------------------------------------------


class TierIn(Schema):
    code: str = Field(..., max_length=20)
    name: str = Field(..., max_length=50)
    name_en: str = Field("", max_length=50)
    rank: int
    min_score: Decimal


class TierOut(TierIn):
    pass


class FactorIn(Schema):
    code: str = Field(..., description="One of the factor codes (revenue_12m, gross_margin, ...).")
    weight: Decimal
    scoring: str = Field("bands", description='"bands" or "linear".')
    bands: list[list[Decimal]] = Field([], description="[[lower bound, share 0–1], ...], bounds ascending.")
    lower: Decimal | None = None
    upper: Decimal | None = None
    higher_is_better: bool = True


class FactorOut(Schema):
    code: str
    weight: Decimal
    scoring: str
    bands: list[list[Any]]
    lower: Decimal | None
    upper: Decimal | None
    higher_is_better: bool


class ModelOut(Schema):
    id: int
    code: str
    name: str
    product_line_id: int | None
    description: str
    hysteresis_margin: Decimal
    hysteresis_runs: int
    is_active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class ModelDetailOut(ModelOut):
    tiers: list[TierOut]
    factors: list[FactorOut]
    warnings: list[str]


class ModelIn(Schema):
    code: str = Field(..., max_length=40)
    name: str = Field(..., max_length=100)
    product_line_id: int | None = Field(None, description="Empty for the global model.")
    description: str = ""
    hysteresis_margin: Decimal = Decimal("2")
    hysteresis_runs: int = 2
    tiers: list[TierIn] | None = None
    factors: list[FactorIn] | None = None
    is_active: bool = False


class ModelPatch(Schema):
    code: str | None = Field(None, max_length=40)
    name: str | None = Field(None, max_length=100)
    product_line_id: int | None = Field(None, description="null makes the model global.")
    description: str | None = None
    hysteresis_margin: Decimal | None = None
    hysteresis_runs: int | None = None


class TiersIn(Schema):
    tiers: list[TierIn]


class FactorsIn(Schema):
    factors: list[FactorIn]


class CopyIn(Schema):
    product_line_id: int
    code: str | None = Field(None, max_length=40)
    name: str | None = Field(None, max_length=100)


class PreviewIn(Schema):
    weights: dict[str, Decimal] | None = Field(None, description="Factor code → weight.")
    thresholds: dict[str, Decimal] | None = Field(None, description="Tier code → minimum score.")
    bands: dict[str, list[list[Decimal]]] | None = Field(None, description="Factor code → bands.")
    tiers: list[TierIn] | None = Field(None, description="A whole new set of tiers (instead of thresholds).")
    factors: list[FactorIn] | None = Field(
        None, description="A whole new set of factors (instead of weights)."
    )
    hysteresis_margin: Decimal | None = None
    hysteresis_runs: int | None = None


class PreviewOut(Schema):
    customers: int
    changed: int
    migration: dict[str, dict[str, int]]
    warnings: list[str]


class JobOut(Schema):
    job_id: str
    url: str


class RunOut(Schema):
    id: int
    model_id: int
    model_code: str
    status: str
    as_of: dt.date
    started_at: dt.datetime
    finished_at: dt.datetime | None
    triggered_by_id: int | None
    job_id: str | None
    customers: int
    changed: int
    duration_ms: int

    @staticmethod
    def resolve_model_code(obj: AssessmentRun) -> str:
        return obj.model.code

    @staticmethod
    def resolve_job_id(obj: AssessmentRun) -> str | None:
        return str(obj.job_id) if obj.job_id else None


class RunDetailOut(RunOut):
    migration: dict[str, dict[str, int]] = Field(
        ..., description="{from tier: {to tier: customers}} over the customers the caller can see."
    )
    scoped: bool = Field(
        ..., description="True when counted over part of the customers (the caller's scope)."
    )
    error: str


class RunParams(Schema):
    model: int | None = None
    status: str | None = None


class AssessmentOut(Schema):
    id: int
    run_id: int
    customer_id: int
    customer_name: str
    score: Decimal
    computed_tier: str
    tier: str
    previous_tier: str
    factors: list[dict[str, Any]]

    @staticmethod
    def resolve_customer_name(obj: Assessment) -> str:
        return obj.customer.legal_name


class AssessmentParams(Schema):
    from_tier: str | None = Field(None, max_length=20, description='Previous tier; "~" for none.')
    to_tier: str | None = Field(None, max_length=20, description='Tier after the run; "~" for none.')
    changed: bool | None = Field(None, description="Only customers whose tier changed.")
    q: str | None = Field(None, max_length=100, description="Customer name.")


# --- helpers --------------------------------------------------------------------------------


def _admin(request: HttpRequest) -> None:
    if not services.can_administer(request.user):
        raise ApiError(403, FORBIDDEN, str(services.ERR_ADMIN))


def _model(request: HttpRequest, model_id: int) -> TierModel:
    return selectors.tier_model_get(user=request.user, pk=model_id)


def _detail(model: TierModel) -> dict[str, Any]:
    model.refresh_from_db()
    tiers = services.tiers_of(model)
    factors = services.factors_of(model)
    return {
        **{f: getattr(model, f) for f in ModelOut.model_fields},
        "tiers": tiers,
        "factors": factors,
        "warnings": services.config_warnings(tiers, factors),
    }


def _line(pk: int | None) -> ProductLine | None:
    if not pk:
        return None
    line = ProductLine.objects.filter(pk=pk).first()
    if line is None:
        raise ValidationError({"product_line_id": [str(ERR_UNKNOWN_LINE)]})
    return line


def _rows(items: list[Schema] | None) -> list[dict[str, Any]] | None:
    return None if items is None else [i.dict() for i in items]


def _renamed(error: ValidationError, renames: dict[str, str]) -> ValidationError:
    """The service's field paths renamed to the caller's (``product_line`` → ``product_line_id``...)."""
    if not hasattr(error, "error_dict"):
        return error
    out: dict[str, list[str]] = {}
    for path, messages in error.message_dict.items():
        for old, new in renames.items():
            if path == old or path.startswith(old + "."):
                path = new + path[len(old) :]
                break
        out.setdefault(path, []).extend(messages)
    return ValidationError(out)


# --- models -----------------------------------------------------------------------------------


@router.get("", response=list[ModelOut], summary="Tier models")
@paginate(KeysetPagination, ordering=("id",))
def list_models(request: HttpRequest):  # type: ignore[no-untyped-def]
    """Every tier model, the global ones and one per product line where configured."""
    return TierModel.objects.all()


@router.post("", response={201: ModelDetailOut}, summary="Create a tier model (administrators)")
def create_model(request: HttpRequest, payload: ModelIn):  # type: ignore[no-untyped-def]
    _admin(request)
    data = payload.dict()
    try:
        model = services.tier_model_create(
            actor=request.user,
            code=data["code"],
            name=data["name"],
            product_line=_line(data["product_line_id"]),
            description=data["description"],
            hysteresis_margin=data["hysteresis_margin"],
            hysteresis_runs=data["hysteresis_runs"],
            tiers=_rows(payload.tiers),
            factors=_rows(payload.factors),
            is_active=data["is_active"],
        )
    except ValidationError as e:
        raise _renamed(e, {"product_line": "product_line_id"})
    return Status(201, _detail(model))


@router.get("/{int:model_id}", response=ModelDetailOut, summary="A tier model with its tiers and factors")
def get_model(request: HttpRequest, model_id: int):  # type: ignore[no-untyped-def]
    return _detail(_model(request, model_id))


@router.patch("/{int:model_id}", response=ModelDetailOut, summary="Change a tier model (administrators)")
def update_model(request: HttpRequest, model_id: int, payload: ModelPatch):  # type: ignore[no-untyped-def]
    _admin(request)
    model = _model(request, model_id)
    data = payload.dict(exclude_unset=True)
    if "product_line_id" in data:
        data["product_line"] = _line(data.pop("product_line_id"))
    fields = {k: v for k, v in data.items() if v is not None or k in ("product_line",)}
    try:
        services.tier_model_update(actor=request.user, model=model, **fields)
    except ValidationError as e:
        raise _renamed(e, {"product_line": "product_line_id"})
    return _detail(model)


@router.delete("/{int:model_id}", response={204: None}, summary="Delete a never-run, inactive model")
def delete_model(request: HttpRequest, model_id: int):  # type: ignore[no-untyped-def]
    _admin(request)
    services.tier_model_delete(actor=request.user, model=_model(request, model_id))
    return Status(204, None)


@router.put("/{int:model_id}/tiers", response=ModelDetailOut, summary="Replace the tiers (administrators)")
def set_tiers(request: HttpRequest, model_id: int, payload: TiersIn):  # type: ignore[no-untyped-def]
    _admin(request)
    model = _model(request, model_id)
    services.tier_model_set_tiers(actor=request.user, model=model, tiers=_rows(payload.tiers) or [])
    return _detail(model)


@router.put(
    "/{int:model_id}/factors", response=ModelDetailOut, summary="Replace the factors (administrators)"
)
def set_factors(request: HttpRequest, model_id: int, payload: FactorsIn):  # type: ignore[no-untyped-def]
    _admin(request)
    model = _model(request, model_id)
    services.tier_model_set_factors(actor=request.user, model=model, factors=_rows(payload.factors) or [])
    return _detail(model)


@router.post("/{int:model_id}/activate", response=ModelDetailOut, summary="Activate (administrators)")
def activate_model(request: HttpRequest, model_id: int):  # type: ignore[no-untyped-def]
    _admin(request)
    model = services.tier_model_activate(actor=request.user, model=_model(request, model_id))
    return _detail(model)


@router.post("/{int:model_id}/deactivate", response=ModelDetailOut, summary="Deactivate (administrators)")
def deactivate_model(request: HttpRequest, model_id: int):  # type: ignore[no-untyped-def]
    _admin(request)
    model = services.tier_model_deactivate(actor=request.user, model=_model(request, model_id))
    return _detail(model)


@router.post(
    "/{int:model_id}/copy",
    response={201: ModelDetailOut},
    summary="Copy a model for a product line (administrators)",
)
def copy_model(request: HttpRequest, model_id: int, payload: CopyIn):  # type: ignore[no-untyped-def]
    """The copy starts inactive with the source's tiers, factors and hysteresis."""
    _admin(request)
    source = _model(request, model_id)
    try:
        model = services.tier_model_copy(
            actor=request.user,
            source=source,
            product_line=_line(payload.product_line_id),
            code=payload.code,
            name=payload.name,
        )
    except ValidationError as e:
        raise _renamed(e, {"product_line": "product_line_id"})
    return Status(201, _detail(model))


@router.post(
    "/{int:model_id}/preview", response=PreviewOut, summary="Preview unsaved settings (administrators)"
)
def preview_model(request: HttpRequest, model_id: int, payload: PreviewIn):  # type: ignore[no-untyped-def]
    """What a run would do with these settings, nothing saved: ``{"customers", "changed", "migration"}``.

    Send ``weights`` / ``thresholds`` / ``bands`` keyed by code to change those of the saved model, or
    whole ``tiers`` / ``factors`` lists to try a different set.
    """
    _admin(request)
    model = _model(request, model_id)
    saved_tiers, saved_factors = services.preview_overrides_for(
        model,
        weights=payload.weights if payload.tiers is None and payload.factors is None else None,
        thresholds=payload.thresholds if payload.tiers is None else None,
        bands=_rows_bands(payload.bands) if payload.factors is None else None,
    )
    tiers = _rows(payload.tiers) if payload.tiers is not None else saved_tiers
    factors = _rows(payload.factors) if payload.factors is not None else saved_factors
    fields = {
        k: getattr(payload, k)
        for k in ("hysteresis_margin", "hysteresis_runs")
        if getattr(payload, k) is not None
    }
    renames = {}
    if payload.tiers is None:
        renames.update({f"tiers.{i}.min_score": f"thresholds.{t['code']}" for i, t in enumerate(tiers)})
    if payload.factors is None:
        renames.update({f"factors.{i}.weight": f"weights.{f['code']}" for i, f in enumerate(factors)})
        renames.update({f"factors.{i}.bands": f"bands.{f['code']}" for i, f in enumerate(factors)})
    try:
        result = services.tier_model_preview(
            actor=request.user, model=model, fields=fields, tiers=tiers or [], factors=factors or []
        )
    except ValidationError as e:
        raise _renamed(e, renames)
    return {
        "customers": int(result.get("customers") or 0),
        "changed": int(result.get("changed") or 0),
        "migration": {
            str(k): {str(t): int(n) for t, n in v.items()} for k, v in (result.get("migration") or {}).items()
        },
        "warnings": result.get("warnings") or [],
    }


def _rows_bands(bands: dict[str, list[list[Decimal]]] | None) -> dict[str, list] | None:
    if bands is None:
        return None
    return {code: [list(b) for b in rows] for code, rows in bands.items()}


@router.post(
    "/{int:model_id}/run", response={202: JobOut}, summary="Assess every customer now (administrators)"
)
def run_model(request: HttpRequest, model_id: int):  # type: ignore[no-untyped-def]
    """Starts the engine in the background; follow the job (``url``) for its progress."""
    _admin(request)
    job = services.assessment_run_start(actor=request.user, model=_model(request, model_id))
    return Status(202, {"job_id": str(job.pk), "url": reverse("job_detail", args=[job.pk])})


# --- runs --------------------------------------------------------------------------------------


def _run_filters(params: RunParams) -> dict[str, Any]:
    data = {k: v for k, v in params.dict().items() if v is not None}
    f = selectors.RunFilter(data)
    if not f.is_valid():
        raise ValidationError(f.errors.as_data())
    return data


@router.get("/runs", response=list[RunOut], summary="Assessment runs, newest first")
@paginate(KeysetPagination, ordering=("-started_at", "-id"))
def list_runs(request: HttpRequest, filters: Query[RunParams]):  # type: ignore[no-untyped-def]
    return selectors.assessment_run_list(user=request.user, filters=_run_filters(filters))


@router.get("/{int:model_id}/runs", response=list[RunOut], summary="A model's assessment runs, newest first")
@paginate(KeysetPagination, ordering=("-started_at", "-id"))
def list_model_runs(request: HttpRequest, model_id: int):  # type: ignore[no-untyped-def]
    model = _model(request, model_id)
    return selectors.assessment_run_list(user=request.user, filters={"model": model.pk})


@router.get("/runs/{int:run_id}", response=RunDetailOut, summary="A run with its tier-migration matrix")
def get_run(request: HttpRequest, run_id: int):  # type: ignore[no-untyped-def]
    run = selectors.assessment_run_get(user=request.user, pk=run_id)
    matrix = selectors.run_matrix(user=request.user, run=run)
    run.migration = matrix.as_dict  # type: ignore[assignment]  (scoped counts, not the stored totals)
    run.scoped = matrix.scoped  # type: ignore[attr-defined]
    if not services.can_administer(request.user):
        run.error = ""
    return run


@router.get(
    "/runs/{int:run_id}/assessments",
    response=list[AssessmentOut],
    summary="The assessments of a run (scoped to the caller)",
)
@paginate(KeysetPagination, ordering=("id",))
def list_run_assessments(request: HttpRequest, run_id: int, filters: Query[AssessmentParams]):  # type: ignore[no-untyped-def]
    run = selectors.assessment_run_get(user=request.user, pk=run_id)
    data = {k: v for k, v in filters.dict().items() if v is not None}
    return (
        selectors.run_assessments(user=request.user, run=run, filters=data)
        .select_related(None)
        .select_related("customer")
    )
