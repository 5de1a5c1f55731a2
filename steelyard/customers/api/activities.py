"""Visits and activities over the API (/api/v1/customers/activities/).

Lists use the activity page's filter set and keyset pagination; a record outside the caller's
scope answers 404; writes go through the audited services (ValidationErrors become 400s).
"""

# No ``from __future__ import annotations``: ninja resolves these schemas at import time.

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema, Status

from steelyard.core.api.pagination import KeysetPagination, paginate
from steelyard.core.scopes import CHANGE
from steelyard.customers.models import Activity, Contact, Customer
from steelyard.customers.selectors import activities as selectors
from steelyard.customers.services import activities as services

router = Router(tags=["customers"])

ERR_UNKNOWN_CUSTOMER = _("Unknown customer.")


class ActivityOut(Schema):
    id: int
    customer_id: int
    kind: str
    status: str
    subject: str
    purpose: str
    planned_at: dt.datetime | None
    occurred_at: dt.datetime | None
    outcome: str
    next_step: str
    owner_id: int
    org_unit_id: int | None
    checkin_at: dt.datetime | None
    checkin_lat: Decimal | None
    checkin_lng: Decimal | None
    checkin_accuracy_m: int | None
    created_at: dt.datetime


class ActivityParams(Schema):
    q: str | None = Field(None, max_length=100, description="Subject or customer name contains.")
    kind: str | None = Field(None, description="visit, call, meeting or email.")
    status: str | None = Field(None, description="planned, done or cancelled.")
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    customer: int | None = Field(None, description="Customer id.")
    mine: bool | None = Field(None, description="Only activities the caller owns.")


class PlanIn(Schema):
    customer_id: int
    kind: str = "visit"
    subject: str = Field(..., max_length=200)
    planned_at: dt.datetime
    purpose: str = ""
    contact_ids: list[int] = []


class LogIn(Schema):
    customer_id: int
    kind: str = "visit"
    subject: str = Field(..., max_length=200)
    occurred_at: dt.datetime | None = Field(None, description="Defaults to now.")
    outcome: str = ""
    next_step: str = Field("", max_length=200)
    purpose: str = ""
    contact_ids: list[int] = []


class CompleteIn(Schema):
    outcome: str
    next_step: str = Field("", max_length=200)
    occurred_at: dt.datetime | None = None


class CancelIn(Schema):
    reason: str = Field(..., max_length=500)


class CheckinIn(Schema):
    lat: float | None = Field(None, description="-90..90; leave out when the position is unknown.")
    lng: float | None = Field(None, description="-180..180.")
    accuracy_m: float | None = Field(None, ge=0)


class OverdueOut(Schema):
    customer_id: int
    name: str
    owner_id: int | None
    last_visit_at: dt.datetime | None
    visit_frequency: int
    days_overdue: int


def _customer(request: HttpRequest, pk: int) -> Customer:
    customer = Customer.objects.visible_to(request.user).filter(pk=pk).first()
    if customer is None:
        raise ValidationError({"customer_id": [ERR_UNKNOWN_CUSTOMER]})
    return customer


def _contacts(customer: Customer, ids: list[int]) -> list[Contact]:
    return list(Contact.objects.filter(customer=customer, pk__in=ids)) if ids else []


def _changeable(request: HttpRequest, pk: int) -> Activity:
    return get_object_or_404(Activity.objects.visible_to(request.user, CHANGE), pk=pk)


def _out(request: HttpRequest, pk: int) -> Activity:
    activity = selectors.activity_get(user=request.user, pk=pk)
    if activity is None:
        raise Http404
    return activity


@router.get("", response=list[ActivityOut])
@paginate(KeysetPagination, ordering=("-created_at", "-id"))
def list_activities(request: HttpRequest, filters: Query[ActivityParams]):  # type: ignore[no-untyped-def]
    """Activities the caller can see (own; a manager's team; those they took part in)."""
    data: dict[str, Any] = {k: v for k, v in filters.dict().items() if v is not None}
    f = selectors.ActivityFilter(data, user=request.user)
    if not f.is_valid():
        raise ValidationError(f.errors.as_data())
    return f.filter_queryset(selectors.activity_list(user=request.user), f.valid_data)


@router.get("/overdue-visits", response=list[OverdueOut])
def list_overdue_visits(request: HttpRequest, team: bool = False, limit: int = 200):  # type: ignore[no-untyped-def]
    """Customers overdue for a visit, most overdue first (``team=true``: everyone in the caller's scope)."""
    rows = selectors.visits_overdue(user=request.user, team=team)[: max(1, min(limit, 1000))]
    return [
        {
            "customer_id": c.pk,
            "name": str(c),
            "owner_id": c.owner_id,
            "last_visit_at": c.last_visit_at,
            "visit_frequency": c.visit_frequency,
            "days_overdue": c.days_overdue.days,
        }
        for c in rows
    ]


@router.get("/{int:activity_id}", response=ActivityOut)
def get_activity(request: HttpRequest, activity_id: int):  # type: ignore[no-untyped-def]
    return _out(request, activity_id)


@router.post("/plan", response={201: ActivityOut})
def plan_activity(request: HttpRequest, payload: PlanIn):  # type: ignore[no-untyped-def]
    customer = _customer(request, payload.customer_id)
    activity = services.activity_plan(
        actor=request.user,
        customer=customer,
        kind=payload.kind,
        subject=payload.subject,
        planned_at=payload.planned_at,
        purpose=payload.purpose,
        contacts=_contacts(customer, payload.contact_ids),
    )
    return Status(201, _out(request, activity.pk))


@router.post("/log", response={201: ActivityOut})
def log_activity(request: HttpRequest, payload: LogIn):  # type: ignore[no-untyped-def]
    customer = _customer(request, payload.customer_id)
    activity = services.activity_log(
        actor=request.user,
        customer=customer,
        kind=payload.kind,
        subject=payload.subject,
        occurred_at=payload.occurred_at,
        outcome=payload.outcome,
        next_step=payload.next_step,
        purpose=payload.purpose,
        contacts=_contacts(customer, payload.contact_ids),
    )
    return Status(201, _out(request, activity.pk))


@router.post("/{int:activity_id}/complete", response=ActivityOut)
def complete_activity(request: HttpRequest, activity_id: int, payload: CompleteIn):  # type: ignore[no-untyped-def]
    activity = _changeable(request, activity_id)
    services.activity_complete(
        actor=request.user,
        activity=activity,
        outcome=payload.outcome,
        next_step=payload.next_step,
        occurred_at=payload.occurred_at,
    )
    return _out(request, activity_id)


@router.post("/{int:activity_id}/checkin", response=ActivityOut)
def checkin_activity(request: HttpRequest, activity_id: int, payload: CheckinIn):  # type: ignore[no-untyped-def]
    activity = _changeable(request, activity_id)
    services.activity_checkin(
        actor=request.user, activity=activity, lat=payload.lat, lng=payload.lng, accuracy_m=payload.accuracy_m
    )
    return _out(request, activity_id)


@router.post("/{int:activity_id}/cancel", response=ActivityOut)
def cancel_activity(request: HttpRequest, activity_id: int, payload: CancelIn):  # type: ignore[no-untyped-def]
    activity = _changeable(request, activity_id)
    try:
        services.activity_cancel(actor=request.user, activity=activity, reason=payload.reason)
    except PermissionDenied:
        raise Http404 from None
    return _out(request, activity_id)
