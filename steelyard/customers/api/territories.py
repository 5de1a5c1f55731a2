"""Territories and reassignment over the API (/api/v1/customers/territories/).

Territory set-up is for administrators and sales directors; ``/route`` is a dry run of the
assignment rules; ``/reassign`` moves a rep's whole book; ``/customers/{id}/reassign`` moves one
customer. Records outside the caller's scope answer 404; service errors become 400/403.
"""

# No ``from __future__ import annotations``: ninja resolves the annotations of routes itself.

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from steelyard.core.api.pagination import KeysetPagination
from steelyard.customers.models import Customer, Pool, Territory
from steelyard.customers.selectors import territories as selectors
from steelyard.customers.services import territories as services
from steelyard.org.models import OrgUnit, User

router = Router(tags=["customers"])

ERR_UNKNOWN_PERSON = _("Unknown person.")
ERR_UNKNOWN_TERRITORY = _("Unknown territory.")
ERR_UNKNOWN_UNIT = _("Unknown org unit.")
ERR_UNKNOWN_POOL = _("Unknown pool.")


class TerritoryOut(Schema):
    id: int
    name: str
    code: str
    parent_id: int | None
    owner_id: int | None
    org_unit_id: int | None
    member_ids: list[int]
    provinces: list[str]
    industries: list[str]
    product_lines: list[str]
    strategy: str
    priority: int
    pool_id: int | None
    is_active: bool

    @staticmethod
    def resolve_member_ids(obj: Territory) -> list[int]:
        return sorted(u.pk for u in obj.members.all())


class TerritoryIn(Schema):
    name: str = Field(..., max_length=80)
    code: str = Field(..., max_length=40)
    parent_id: int | None = None
    owner_id: int | None = None
    org_unit_id: int | None = None
    member_ids: list[int] = []
    provinces: list[str] = Field([], description="Short province names, e.g. 广东; empty matches any.")
    industries: list[str] = Field([], description="Industry codes; empty matches any.")
    product_lines: list[str] = Field([], description="Product line codes; empty matches any.")
    strategy: str = Field("round_robin", description="owner | round_robin | least_loaded")
    priority: int = 100
    pool_id: int | None = None
    is_active: bool = True


class TerritoryPatch(Schema):
    name: str | None = Field(None, max_length=80)
    code: str | None = Field(None, max_length=40)
    parent_id: int | None = Field(None, description="Send 0 to clear.")
    owner_id: int | None = Field(None, description="Send 0 to clear.")
    org_unit_id: int | None = Field(None, description="Send 0 to clear.")
    member_ids: list[int] | None = None
    provinces: list[str] | None = None
    industries: list[str] | None = None
    product_lines: list[str] | None = None
    strategy: str | None = None
    priority: int | None = None
    pool_id: int | None = Field(None, description="Send 0 to clear.")
    is_active: bool | None = None


class TerritoryParams(Schema):
    q: str | None = Field(None, max_length=100)
    strategy: str | None = None
    active: str | None = Field(None, description='"1" active only, "0" inactive only.')


class RouteIn(Schema):
    province: str = ""
    industry: str = ""
    product_line: str = ""


class RouteOut(Schema):
    territory_id: int | None
    territory_code: str | None
    owner_id: int | None
    owner_name: str | None


class BulkReassignIn(Schema):
    from_user_id: int
    to_user_id: int
    reason: str = Field(..., min_length=1, max_length=500)
    include_activities: bool = True


class BulkReassignOut(Schema):
    customers: int
    activities: int | None
    hooks: dict[str, int]
    job_id: str | None


class CustomerReassignIn(Schema):
    to_owner_id: int
    reason: str = Field(..., min_length=1, max_length=500)


class CustomerOwnerOut(Schema):
    id: int
    owner_id: int | None
    org_unit_id: int | None
    territory_id: int | None


def _require_territory_admin(request: HttpRequest) -> None:
    if not services.can_manage_territories(request.user):
        raise PermissionDenied(str(services.ERR_TERRITORY_FORBIDDEN))


def _person(request: HttpRequest, pk: int, field: str) -> User:
    user = User.objects.visible_to(request.user).filter(pk=pk).first()
    if user is None:
        raise ValidationError({field: ERR_UNKNOWN_PERSON})
    return user


def _resolve(request: HttpRequest, data: dict[str, Any]) -> dict[str, Any]:
    """Turn the payload's ids into records the caller may use (unknown ids are 400s)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "parent_id":
            out["parent"] = (
                get_or_error(
                    selectors.territory_list(user=request.user), value, "parent_id", ERR_UNKNOWN_TERRITORY
                )
                if value
                else None
            )
        elif key == "owner_id":
            out["owner"] = _person(request, value, "owner_id") if value else None
        elif key == "org_unit_id":
            out["org_unit"] = (
                get_or_error(OrgUnit.objects.visible_to(request.user), value, "org_unit_id", ERR_UNKNOWN_UNIT)
                if value
                else None
            )
        elif key == "pool_id":
            out["pool"] = (
                get_or_error(Pool.objects.all(), value, "pool_id", ERR_UNKNOWN_POOL) if value else None
            )
        elif key == "member_ids":
            members = list(User.objects.visible_to(request.user).filter(pk__in=value))
            if len(members) != len(set(value)):
                raise ValidationError({"member_ids": ERR_UNKNOWN_PERSON})
            out["members"] = members
        elif key == "strategy":
            if value not in Territory.Strategy.values:
                raise ValidationError({"strategy": _("Unknown strategy.")})
            out[key] = value
        else:
            out[key] = value
    return out


def get_or_error(qs: Any, pk: int, field: str, message: Any) -> Any:
    obj = qs.filter(pk=pk).first()
    if obj is None:
        raise ValidationError({field: message})
    return obj


def _territory(request: HttpRequest, pk: int) -> Territory:
    return get_object_or_404(selectors.territory_list(user=request.user).prefetch_related("members"), pk=pk)


@router.get("", response=list[TerritoryOut])
@paginate(KeysetPagination, ordering=("code",))
def list_territories(request: HttpRequest, filters: Query[TerritoryParams]):  # type: ignore[no-untyped-def]
    """Territories the caller may see (administrators and sales directors)."""
    _require_territory_admin(request)
    data = {k: v for k, v in filters.dict().items() if v is not None}
    return selectors.territory_list(user=request.user, filters=data).prefetch_related("members")


@router.get("/{int:territory_id}", response=TerritoryOut)
def get_territory(request: HttpRequest, territory_id: int):  # type: ignore[no-untyped-def]
    _require_territory_admin(request)
    return _territory(request, territory_id)


@router.post("", response={201: TerritoryOut})
def create_territory(request: HttpRequest, payload: TerritoryIn):  # type: ignore[no-untyped-def]
    _require_territory_admin(request)
    territory = services.territory_create(actor=request.user, **_resolve(request, payload.dict()))
    return Status(201, _territory(request, territory.pk))


@router.patch("/{int:territory_id}", response=TerritoryOut)
def update_territory(request: HttpRequest, territory_id: int, payload: TerritoryPatch):  # type: ignore[no-untyped-def]
    _require_territory_admin(request)
    territory = _territory(request, territory_id)
    data = {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None or k.endswith("_id")}
    services.territory_update(actor=request.user, territory=territory, **_resolve(request, data))
    return _territory(request, territory_id)


@router.post("/route", response=RouteOut)
def route(request: HttpRequest, payload: RouteIn):  # type: ignore[no-untyped-def]
    """Dry run: which territory and owner a customer with these attributes would get (nothing is written)."""
    if not services.is_manager(request.user):
        raise PermissionDenied(str(services.ERR_REASSIGN_FORBIDDEN))
    owner, territory = services.territory_route(**payload.dict())
    return {
        "territory_id": territory.pk if territory else None,
        "territory_code": territory.code if territory else None,
        "owner_id": owner.pk if owner else None,
        "owner_name": str(owner) if owner else None,
    }


@router.post("/reassign", response=BulkReassignOut)
def bulk_reassign(request: HttpRequest, payload: BulkReassignIn):  # type: ignore[no-untyped-def]
    """Move all customers (and planned activities) of one person to another; a job beyond the threshold."""
    if not services.is_manager(request.user):
        raise PermissionDenied(str(services.ERR_BULK_FORBIDDEN))
    from_user = get_object_or_404(User.objects.visible_to(request.user), pk=payload.from_user_id)
    to_user = get_object_or_404(User.objects.visible_to(request.user), pk=payload.to_user_id)
    return services.owner_bulk_reassign(
        actor=request.user,
        from_user=from_user,
        to_user=to_user,
        reason=payload.reason,
        include_activities=payload.include_activities,
    )


@router.post("/customers/{int:customer_id}/reassign", response=CustomerOwnerOut)
def customer_reassign(request: HttpRequest, customer_id: int, payload: CustomerReassignIn):  # type: ignore[no-untyped-def]
    """Give one customer to another person (a manager over the customer)."""
    customer = get_object_or_404(Customer.objects.visible_to(request.user), pk=customer_id)
    if not services.can_reassign(request.user, customer):
        raise PermissionDenied(str(services.ERR_REASSIGN_FORBIDDEN))
    to_owner = User.objects.visible_to(request.user).filter(pk=payload.to_owner_id).first()
    if to_owner is None:
        raise ValidationError({"to_owner_id": ERR_UNKNOWN_PERSON})
    services.customer_reassign(
        actor=request.user, customer=customer, to_owner=to_owner, reason=payload.reason
    )
    return customer
