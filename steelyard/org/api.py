"""The organisation over the API (/api/v1/org/): units, people, roles, positions, qualifications.

Lists use the same filter sets as the HTML pages (``steelyard.org.filters``) and keyset
pagination; a record outside the caller's scope answers 404; writes are for administrators
and go through the audited services (their ValidationErrors become 400s).
"""

# No ``from __future__ import annotations`` here: ninja's @paginate wrapper resolves string
# annotations in its own module, where this module's Query[...] schemas are unknown.

import datetime as dt
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from steelyard.core import access
from steelyard.core.api.pagination import KeysetPagination
from steelyard.core.scopes import CHANGE
from steelyard.org import selectors, services
from steelyard.org.filters import OrgUnitFilter, PositionFilter, UserFilter
from steelyard.org.models import OrgUnit, Qualification, Role, User, UserQualification

router = Router(tags=["org"])

ERR_ADMIN_ONLY = _("Only administrators may change people and their qualifications.")
ERR_UNKNOWN_ROLES = _("Unknown role codes: %(codes)s")


# --- schemas ------------------------------------------------------------------------------


class UnitOut(Schema):
    id: int
    name: str
    code: str
    kind: str
    parent_id: int | None
    manager_id: int | None
    path: str
    depth: int
    is_active: bool
    member_count: int = 0


class UserOut(Schema):
    id: int
    username: str
    display_name: str
    email: str
    phone: str
    title: str
    org_unit_id: int | None
    manager_id: int | None
    roles: list[str]
    language: str
    is_active: bool
    is_machine: bool

    @staticmethod
    def resolve_roles(obj: User) -> list[str]:
        return sorted(r.code for r in obj.roles.all())


class UserIn(Schema):
    username: str = Field(..., max_length=150)
    password: str | None = Field(None, description="Leave out to create a person who cannot sign in yet.")
    display_name: str = Field("", max_length=80)
    email: str = Field("", max_length=254)
    phone: str = Field("", max_length=30)
    title: str = Field("", max_length=80)
    org_unit_id: int
    manager_id: int | None = None
    roles: list[str] = []
    language: str = "zh-hans"
    is_machine: bool = False


class UserPatch(Schema):
    display_name: str | None = Field(None, max_length=80)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=30)
    title: str | None = Field(None, max_length=80)
    org_unit_id: int | None = None
    manager_id: int | None = Field(None, description="Send 0 to clear the manager.")
    roles: list[str] | None = None
    language: str | None = None
    is_active: bool | None = None


class RoleOut(Schema):
    id: int
    code: str
    name: str
    description: str
    data_scope: str
    is_machine: bool
    user_count: int


class PositionOut(Schema):
    id: int
    code: str
    name: str
    category: str
    duties: str
    is_active: bool
    required_qualifications: list[str]

    @staticmethod
    def resolve_required_qualifications(obj: Any) -> list[str]:
        return [q.code for q in obj.required_qualifications.all()]


class QualificationOut(Schema):
    id: int
    code: str
    name: str
    description: str
    validity_months: int | None


class UserQualificationIn(Schema):
    qualification: str = Field(..., description="The qualification's code.")
    obtained_on: dt.date
    expires_on: dt.date | None = Field(None, description="Defaults from the qualification's validity.")
    certificate_no: str = Field("", max_length=60)


class UserQualificationOut(Schema):
    id: int
    user_id: int
    qualification: str
    obtained_on: dt.date
    expires_on: dt.date | None
    certificate_no: str

    @staticmethod
    def resolve_qualification(obj: UserQualification) -> str:
        return obj.qualification.code


class UnitParams(Schema):
    q: str | None = Field(None, max_length=100)
    kind: str | None = None
    active: str | None = Field(None, description='"1" active only, "0" inactive only.')


class UserParams(Schema):
    q: str | None = Field(None, max_length=100, description="Name, username, email or phone contains.")
    unit: int | None = Field(None, description="Org unit id; its whole subtree is included.")
    role: str | None = Field(None, description="Role code.")
    active: str | None = Field(None, description='"1" active only, "0" inactive only.')


class PositionParams(Schema):
    q: str | None = Field(None, max_length=100)
    category: str | None = None


# --- helpers --------------------------------------------------------------------------------


def _require_admin(request: HttpRequest) -> None:
    if not access.user_has_role(request.user, access.ADMINISTRATOR):
        raise PermissionDenied(str(ERR_ADMIN_ONLY))


def _validated(filter_class: type, params: Schema, user: Any) -> dict[str, Any]:
    """The query parameters checked by the page's filter set; a bad value is a 400, not ignored."""
    data = {k: v for k, v in params.dict().items() if v is not None}
    f = filter_class(data, user=user)
    if not f.is_valid():
        raise ValidationError(f.errors.as_data())
    return data


def _roles(codes: list[str]) -> list[Role]:
    roles = list(Role.objects.filter(code__in=codes))
    unknown = sorted(set(codes) - {r.code for r in roles})
    if unknown:
        raise ValidationError({"roles": ERR_UNKNOWN_ROLES % {"codes": ", ".join(unknown)}})
    return roles


def _unit(request: HttpRequest, pk: int) -> OrgUnit:
    unit = OrgUnit.objects.visible_to(request.user).filter(pk=pk).first()
    if unit is None:
        raise ValidationError({"org_unit_id": _("Unknown org unit.")})
    return unit


def _manager(request: HttpRequest, pk: int) -> User:
    manager = User.objects.visible_to(request.user).filter(pk=pk).first()
    if manager is None:
        raise ValidationError({"manager_id": _("Unknown person.")})
    return manager


def _user_out(request: HttpRequest, pk: int) -> User:
    return get_object_or_404(User.objects.visible_to(request.user).prefetch_related("roles"), pk=pk)


# --- org units ------------------------------------------------------------------------------


@router.get("/units", response=list[UnitOut])
@paginate(KeysetPagination, ordering=("path",))
def list_units(request: HttpRequest, filters: Query[UnitParams]):  # type: ignore[no-untyped-def]
    """Org units the caller can see, in tree order (parents before their sub-units)."""
    return selectors.org_unit_list(
        user=request.user, filters=_validated(OrgUnitFilter, filters, request.user)
    )


@router.get("/units/{int:unit_id}", response=UnitOut)
def get_unit(request: HttpRequest, unit_id: int):  # type: ignore[no-untyped-def]
    return get_object_or_404(selectors.org_unit_list(user=request.user), pk=unit_id)


# --- people ---------------------------------------------------------------------------------


@router.get("/users", response=list[UserOut])
@paginate(KeysetPagination, ordering=("username",))
def list_users(request: HttpRequest, filters: Query[UserParams]):  # type: ignore[no-untyped-def]
    """People the caller can see, filtered like the people page."""
    return selectors.user_list(user=request.user, filters=_validated(UserFilter, filters, request.user))


@router.get("/users/{int:user_id}", response=UserOut)
def get_user(request: HttpRequest, user_id: int):  # type: ignore[no-untyped-def]
    return _user_out(request, user_id)


@router.post("/users", response={201: UserOut})
def create_user(request: HttpRequest, payload: UserIn):  # type: ignore[no-untyped-def]
    _require_admin(request)
    data = payload.dict()
    unit = _unit(request, data.pop("org_unit_id"))
    manager_id = data.pop("manager_id")
    manager = _manager(request, manager_id) if manager_id else None
    roles = _roles(data.pop("roles"))
    if User.objects.filter(username__iexact=data["username"]).exists():
        raise ValidationError({"username": _("This username is taken.")})
    person = services.user_create(actor=request.user, org_unit=unit, manager=manager, roles=roles, **data)
    return Status(201, _user_out(request, person.pk))


@router.patch("/users/{int:user_id}", response=UserOut)
def update_user(request: HttpRequest, user_id: int, payload: UserPatch):  # type: ignore[no-untyped-def]
    _require_admin(request)
    person = get_object_or_404(User.objects.visible_to(request.user, CHANGE), pk=user_id)
    data = payload.dict(exclude_unset=True)
    fields: dict[str, Any] = {k: v for k, v in data.items() if v is not None and k not in ("roles",)}
    if "org_unit_id" in fields:
        fields["org_unit"] = _unit(request, fields.pop("org_unit_id"))
    if "manager_id" in data:
        fields.pop("manager_id", None)
        fields["manager"] = _manager(request, data["manager_id"]) if data["manager_id"] else None
    roles = _roles(data["roles"]) if data.get("roles") is not None else None
    services.user_update(actor=request.user, user=person, roles=roles, **fields)
    return _user_out(request, person.pk)


@router.get("/users/{int:user_id}/qualifications", response=list[UserQualificationOut])
def list_user_qualifications(request: HttpRequest, user_id: int):  # type: ignore[no-untyped-def]
    person = _user_out(request, user_id)
    return list(selectors.user_qualifications(user=request.user, person=person))


@router.post("/users/{int:user_id}/qualifications", response={201: UserQualificationOut})
def grant_qualification(request: HttpRequest, user_id: int, payload: UserQualificationIn):  # type: ignore[no-untyped-def]
    _require_admin(request)
    person = get_object_or_404(User.objects.visible_to(request.user, CHANGE), pk=user_id)
    qualification = Qualification.objects.filter(code=payload.qualification).first()
    if qualification is None:
        raise ValidationError({"qualification": _("Unknown qualification.")})
    uq = services.user_qualification_grant(
        actor=request.user,
        user=person,
        qualification=qualification,
        obtained_on=payload.obtained_on,
        expires_on=payload.expires_on,
        certificate_no=payload.certificate_no,
    )
    return Status(201, uq)


# --- roles, positions, qualifications ---------------------------------------------------------


@router.get("/roles", response=list[RoleOut])
def list_roles(request: HttpRequest):  # type: ignore[no-untyped-def]
    return list(selectors.role_list(user=request.user))


@router.get("/positions", response=list[PositionOut])
@paginate(KeysetPagination, ordering=("code",))
def list_positions(request: HttpRequest, filters: Query[PositionParams]):  # type: ignore[no-untyped-def]
    return selectors.position_list(
        user=request.user, filters=_validated(PositionFilter, filters, request.user)
    )


@router.get("/qualifications", response=list[QualificationOut])
@paginate(KeysetPagination, ordering=("code",))
def list_qualifications(request: HttpRequest):  # type: ignore[no-untyped-def]
    return selectors.qualification_list(user=request.user)
