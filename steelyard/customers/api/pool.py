"""The public pool over the API (/api/v1/customers/pool/): list, claim, release, lock, sweep, new pools.

Scoped like the pages: a customer outside the caller's pools (or scope) answers 404; a claim that
loses the race answers 409 with the clear "already claimed" message; other refusals are 400/403.
"""

# No ``from __future__ import annotations``: ninja resolves the annotations at import time.

import datetime as dt
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema, Status

from steelyard.core import access
from steelyard.core.api.errors import ApiError
from steelyard.core.api.pagination import paginate
from steelyard.core.tasks import enqueue_job
from steelyard.customers.models import Customer
from steelyard.customers.selectors import pool as selectors
from steelyard.customers.services import pool as services
from steelyard.customers.views.pool import PoolCustomerFilter
from steelyard.org.models import User

router = Router(tags=["customers"])


class PoolCustomerOut(Schema):
    id: int
    legal_name: str
    short_name: str
    industry: str
    province: str
    city: str
    tier: str
    pool_id: int | None
    released_at: dt.datetime | None
    previous_owner_id: int | None


class CustomerClockOut(Schema):
    id: int
    legal_name: str
    owner_id: int | None
    pool_id: int | None
    owned_since: dt.datetime | None
    recycle_at: dt.date | None
    recycle_trigger: str
    recycle_since: dt.datetime | None
    locked_until: dt.date | None


class PoolFilters(Schema):
    pool: int | None = None
    q: str | None = Field(None, max_length=100)
    industry: str | None = None
    province: str | None = None
    tier: str | None = None
    released: str | None = Field(None, description="Returned within the last 7 or 30 days.")


class ClaimIn(Schema):
    reason: str = Field("", max_length=500)


class ReleaseIn(Schema):
    reason: str = Field(..., min_length=1, max_length=500)


class LockIn(Schema):
    until: dt.date | None = Field(
        None, description="Keep out of the pool until this date; null lifts the lock."
    )
    reason: str = Field(..., min_length=1, max_length=500)


class PoolIn(Schema):
    name: str = Field(..., min_length=1, max_length=80)
    org_unit_id: int
    member_ids: list[int] = Field(default_factory=list)
    admin_ids: list[int] = Field(default_factory=list)
    holding_cap: int | None = Field(None, ge=0)
    claims_per_day: int | None = Field(None, ge=0)
    cooldown_days: int | None = Field(None, ge=0)
    warn_days: int | None = Field(None, ge=0)
    exclude_won_within_days: int | None = Field(None, ge=0)
    exclude_open_opportunity: bool | None = None


class PoolRuleOut(Schema):
    trigger: str
    tier: str
    days: int


class PoolOut(Schema):
    id: int
    name: str
    org_unit_id: int
    is_active: bool
    holding_cap: int
    claims_per_day: int
    cooldown_days: int
    warn_days: int
    exclude_won_within_days: int
    exclude_open_opportunity: bool
    member_ids: list[int]
    admin_ids: list[int]
    rules: list[PoolRuleOut]


class JobOut(Schema):
    job_id: str
    url: str


def _refuse(exc: ValidationError | PermissionDenied) -> ApiError:
    message = " ".join(str(m) for m in exc.messages) if isinstance(exc, ValidationError) else str(exc)
    code = getattr(exc, "code", None) or ("forbidden" if isinstance(exc, PermissionDenied) else "invalid")
    if isinstance(exc, PermissionDenied):
        return ApiError(403, "forbidden", message)
    if code == "already_claimed":
        return ApiError(409, "already_claimed", message)
    return ApiError(400, code, message)


@router.get("", response=list[PoolCustomerOut], summary="Customers in my pools")
@paginate(ordering=("-id",))
def pool_customers(request: HttpRequest, filters: Query[PoolFilters]) -> Any:
    pools = list(selectors.pool_list(user=request.user))
    data = {k: v for k, v in filters.dict().items() if v is not None}
    f = PoolCustomerFilter(data, user=request.user, pools=pools)
    return f.filter_queryset(selectors.pool_customer_list(user=request.user, pools=pools), f.valid_data)


@router.post("/{customer_id}/claim", response=CustomerClockOut, summary="Claim a customer from the pool")
def pool_claim(request: HttpRequest, customer_id: int, payload: ClaimIn | None = None) -> Any:
    customer = get_object_or_404(selectors.pool_customer_list(user=request.user), pk=customer_id)
    try:
        return services.customer_claim(
            actor=request.user, customer_id=customer.pk, reason=payload.reason if payload else ""
        )
    except (ValidationError, PermissionDenied) as exc:
        raise _refuse(exc)


@router.post("/{customer_id}/release", response=CustomerClockOut, summary="Return a customer to the pool")
def pool_release(request: HttpRequest, customer_id: int, payload: ReleaseIn) -> Any:
    customer = get_object_or_404(
        Customer.objects.visible_to(request.user).select_related("pool"), pk=customer_id
    )
    try:
        return services.customer_release(actor=request.user, customer=customer, reason=payload.reason)
    except (ValidationError, PermissionDenied) as exc:
        raise _refuse(exc)


@router.post("/{customer_id}/lock", response=CustomerClockOut, summary="Lock a customer out of the pool")
def pool_lock(request: HttpRequest, customer_id: int, payload: LockIn) -> Any:
    customer = get_object_or_404(
        Customer.objects.visible_to(request.user).select_related("pool"), pk=customer_id
    )
    try:
        return services.customer_lock(
            actor=request.user, customer=customer, until=payload.until, reason=payload.reason
        )
    except (ValidationError, PermissionDenied) as exc:
        raise _refuse(exc)


@router.post("/sweep", response={202: JobOut}, summary="Run the pool sweep now (administrators)")
def pool_sweep(request: HttpRequest) -> Any:
    from django.urls import reverse

    from steelyard.customers.tasks import pool_sweep_job

    if not access.user_has_role(request.user, access.ADMINISTRATOR):
        raise ApiError(403, "forbidden", "Only administrators may run the pool sweep.")
    job = enqueue_job(pool_sweep_job, actor=request.user, label="Pool sweep (API)")
    return Status(202, {"job_id": str(job.pk), "url": reverse("job_detail", args=[job.pk])})


def _pool_out(pool: Any) -> dict[str, Any]:
    return {
        **{
            f: getattr(pool, f) for f in ("id", "name", "org_unit_id", "is_active", *services.CREATE_SETTINGS)
        },
        "member_ids": sorted(pool.members.values_list("pk", flat=True)),
        "admin_ids": sorted(pool.admins.values_list("pk", flat=True)),
        "rules": list(pool.rules.order_by("trigger", "tier").values("trigger", "tier", "days")),
    }


@router.post("/pools", response={201: PoolOut}, summary="Create a pool (administrators, sales directors)")
def pool_create(request: HttpRequest, payload: PoolIn) -> Any:
    """A new pool starts active with the default rules for untiered customers (no visit 45 days,
    no follow-up 30 days). A unit outside the caller's reach answers 404."""
    if not services.can_create_pool(request.user):
        raise ApiError(403, "forbidden", str(services.ERR_CREATE_FORBIDDEN))
    unit = get_object_or_404(services.pool_creatable_units(request.user), pk=payload.org_unit_id)
    people = User.objects.filter(is_active=True, is_machine=False)
    members = list(people.filter(pk__in=payload.member_ids))
    admins = list(people.filter(pk__in=payload.admin_ids))
    unknown = (set(payload.member_ids) | set(payload.admin_ids)) - {u.pk for u in [*members, *admins]}
    if unknown:
        raise ApiError(400, "unknown_users", f"Unknown users: {sorted(unknown)}")
    settings = {
        k: v
        for k, v in payload.dict(exclude={"name", "org_unit_id", "member_ids", "admin_ids"}).items()
        if v is not None
    }
    try:
        pool = services.pool_create(
            actor=request.user, name=payload.name, org_unit=unit, members=members, admins=admins, **settings
        )
    except (ValidationError, PermissionDenied) as exc:
        raise _refuse(exc)
    return Status(201, _pool_out(pool))
