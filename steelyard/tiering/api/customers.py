"""Customers' tiers over the API (/api/v1/tiers/): tiers with their explanation, assessments, overrides
(through approval), entered factor values and tier reviews.

Scoped like the pages: a customer outside the caller's scope answers 404; reviews are for managers,
directors, executives and administrators (403 for others). Writes go through the audited services.
"""

# No ``from __future__ import annotations``: ninja resolves the schemas' annotations at runtime.

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema, Status

from steelyard.core.api.pagination import KeysetPagination, paginate
from steelyard.core.scopes import CHANGE
from steelyard.customers.models import Customer
from steelyard.customers.selectors.customers import customer_get
from steelyard.tiering.models import Assessment, OverrideStatus, TierOverride, TierReview
from steelyard.tiering.selectors import customers as selectors
from steelyard.tiering.services import overrides as services
from steelyard.tiering.services import reviews as review_services

router = Router(tags=["tiers"])

ERR_UNKNOWN_MODEL = _("Unknown or inactive tier model.")


# --- schemas ------------------------------------------------------------------------------


class OverrideStateOut(Schema):
    tier: str
    until: dt.date | None
    reason: str


class CustomerTierOut(Schema):
    model: str
    model_name: str
    product_line_id: int | None
    tier: str = Field(..., description="The tier in force (an approved override wins).")
    tier_name: str
    assessed_tier: str = Field(..., description="The tier the assessments give (after hysteresis).")
    score: Decimal | None
    since: dt.datetime | None
    pending_tier: str
    runs_to_move: int | None = Field(None, description="Assessments still needed to move to pending_tier.")
    points_to_next_tier: Decimal | None
    override: OverrideStateOut | None
    explanation: str
    factors: list[str]


class AssessmentOut(Schema):
    id: int
    run_id: int
    model: str
    as_of: dt.date
    score: Decimal
    computed_tier: str
    tier: str
    previous_tier: str
    factors: list[dict[str, Any]]

    @staticmethod
    def resolve_model(obj: Assessment) -> str:
        return obj.run.model.code

    @staticmethod
    def resolve_as_of(obj: Assessment) -> dt.date:
        return obj.run.as_of


class OverrideIn(Schema):
    model: str | None = Field(None, description="Tier model code; leave out for the global model.")
    tier: str = Field(..., max_length=20)
    reason: str = Field(..., max_length=services.MAX_REASON)
    expires_on: dt.date = Field(
        ..., description="The last day the override is in force (at most a year away)."
    )


class OverrideOut(Schema):
    id: int
    customer_id: int
    model: str
    tier: str
    reason: str
    expires_on: dt.date
    status: str
    requested_by_id: int
    approval_id: int | None
    created_at: dt.datetime
    decided_at: dt.datetime | None

    @staticmethod
    def resolve_model(obj: TierOverride) -> str:
        return obj.model.code


class OverrideParams(Schema):
    status: str | None = Field(None, description="pending, approved, rejected, cancelled or expired.")
    model: str | None = None
    customer: int | None = None


class EnteredValuesIn(Schema):
    potential: Decimal | None = Field(None, description="Estimated annual demand in yuan; null clears it.")
    strategic_fit: Decimal | None = Field(None, description="0 to 5; null clears it.")
    note: str = Field("", max_length=300)


class EnteredValuesOut(Schema):
    potential: Decimal | None
    strategic_fit: Decimal | None


class ReviewIn(Schema):
    model: str | None = Field(None, description="Tier model code; leave out for the global model.")
    period: str = Field(..., max_length=20, description="A quarter, e.g. 2026-Q3.")
    conclusion: str = Field(..., max_length=review_services.MAX_CONCLUSION)


class ReviewOut(Schema):
    id: int
    model: str
    period: str
    reviewer_id: int
    conclusion: str
    snapshot: dict[str, Any]
    menu_id: int | None
    created_at: dt.datetime

    @staticmethod
    def resolve_model(obj: TierReview) -> str:
        return obj.model.code


class ReviewParams(Schema):
    model: str | None = None


# --- helpers ------------------------------------------------------------------------------


def _customer(request: HttpRequest, pk: int, action: str = "view") -> Customer:
    customer = customer_get(user=request.user, pk=pk, action=action)
    if customer.merged_into_id:
        raise Http404("Merged customer.")
    return customer


def _model(key: str | None) -> Any:
    models = selectors.tier_models()
    if key:
        found = next((m for m in models if m.code == key), None)
        if found is None:
            raise ValidationError({"model": str(ERR_UNKNOWN_MODEL)})
        return found
    found = selectors.tier_model_pick(models)
    if found is None:
        raise ValidationError({"model": str(ERR_UNKNOWN_MODEL)})
    return found


def _values_out(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    values = selectors.entered_values(user=request.user, customer=customer)
    return {code: (values[code].value if code in values else None) for code in services.ENTERED_CODES}


def _require_reviewer(request: HttpRequest) -> None:
    if not review_services.can_review(request.user):
        raise PermissionDenied(str(review_services.ERR_ROLE))


# --- tiers and assessments ----------------------------------------------------------------


@router.get("/customers/{int:customer_id}/tiers", response=list[CustomerTierOut])
def customer_tiers(request: HttpRequest, customer_id: int):  # type: ignore[no-untyped-def]
    """The customer's tier under each active model, with the explanation of its score."""
    customer = _customer(request, customer_id)
    out = []
    for card in selectors.customer_tier_cards(user=request.user, customer=customer):
        ct = card.ct
        out.append(
            {
                "model": card.model.code,
                "model_name": card.model.name,
                "product_line_id": card.model.product_line_id,
                "tier": card.tier_code,
                "tier_name": card.tier_name,
                "assessed_tier": ct.tier if ct else "",
                "score": ct.score if ct else None,
                "since": ct.since if ct else None,
                "pending_tier": ct.pending_tier if ct else "",
                "runs_to_move": card.runs_left if card.pending_name else None,
                "points_to_next_tier": card.gap_up,
                "override": (
                    {"tier": ct.override_tier, "until": ct.override_until, "reason": ct.override_reason}
                    if ct is not None and card.override
                    else None
                ),
                "explanation": card.explanation_text,
                "factors": card.explanation,
            }
        )
    return out


@router.get("/customers/{int:customer_id}/assessments", response=list[AssessmentOut])
@paginate(KeysetPagination, ordering=("-id",))
def customer_assessments(request: HttpRequest, customer_id: int):  # type: ignore[no-untyped-def]
    """Every assessment of the customer (all models), newest first: each factor's raw value, points, weight."""
    customer = _customer(request, customer_id)
    return selectors.assessments_for(user=request.user, customer=customer)


# --- overrides ----------------------------------------------------------------------------


@router.post("/customers/{int:customer_id}/overrides", response={201: OverrideOut})
def request_override(request: HttpRequest, customer_id: int, payload: OverrideIn):  # type: ignore[no-untyped-def]
    """Ask for another tier until a date (at most a year); it is in force only once approved."""
    customer = _customer(request, customer_id, CHANGE)
    try:
        override = services.override_request(
            actor=request.user,
            customer=customer,
            model=_model(payload.model),
            tier=payload.tier,
            reason=payload.reason,
            expires_on=payload.expires_on,
        )
    except PermissionDenied:
        raise Http404("Not allowed.")
    return Status(201, TierOverride.objects.select_related("model").get(pk=override.pk))


@router.get("/overrides", response=list[OverrideOut])
@paginate(KeysetPagination, ordering=("-created_at", "-id"))
def list_overrides(request: HttpRequest, filters: Query[OverrideParams]):  # type: ignore[no-untyped-def]
    """Overrides of the customers the caller can see, newest first."""
    data = filters.dict()
    if data.get("status") and data["status"] not in OverrideStatus.values:
        raise ValidationError({"status": str(_("Choose pending, approved, rejected, cancelled or expired."))})
    return selectors.override_list(user=request.user, filters=data)


# --- entered values -----------------------------------------------------------------------


@router.get("/customers/{int:customer_id}/entered-values", response=EnteredValuesOut)
def get_entered_values(request: HttpRequest, customer_id: int):  # type: ignore[no-untyped-def]
    return _values_out(request, _customer(request, customer_id))


@router.put("/customers/{int:customer_id}/entered-values", response=EnteredValuesOut)
def put_entered_values(request: HttpRequest, customer_id: int, payload: EnteredValuesIn):  # type: ignore[no-untyped-def]
    """Set the customer's potential and strategic fit (null clears a value); used by the next assessment."""
    customer = _customer(request, customer_id, CHANGE)
    try:
        services.entered_values_set(
            actor=request.user,
            customer=customer,
            values={"potential": payload.potential, "strategic_fit": payload.strategic_fit},
            note=payload.note,
        )
    except PermissionDenied:
        raise Http404("Not allowed.")
    return _values_out(request, customer)


# --- reviews ------------------------------------------------------------------------------


@router.get("/reviews", response=list[ReviewOut])
@paginate(KeysetPagination, ordering=("-created_at", "-id"))
def list_reviews(request: HttpRequest, filters: Query[ReviewParams]):  # type: ignore[no-untyped-def]
    """Saved tier reviews with the data they were made on (managers, directors, executives)."""
    _require_reviewer(request)
    qs = selectors.review_list()
    if filters.model:
        qs = qs.filter(model__code=filters.model)
    return qs


@router.post("/reviews", response={201: ReviewOut})
def create_review(request: HttpRequest, payload: ReviewIn):  # type: ignore[no-untyped-def]
    """Conclude a review of a model for a quarter; the figures within the caller's scope are saved with it."""
    _require_reviewer(request)
    review = review_services.review_create(
        actor=request.user, model=_model(payload.model), period=payload.period, conclusion=payload.conclusion
    )
    return Status(201, selectors.review_list().get(pk=review.pk))
