"""``GET /api/v1/me``: who the caller is, as the API sees them."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from steelyard.core.scopes import user_scope

router = Router(tags=["me"])


class RoleOut(Schema):
    code: str
    name: str


class OrgUnitOut(Schema):
    id: int
    code: str
    name: str
    path: str


class MeOut(Schema):
    id: int
    username: str
    display_name: str
    email: str
    language: str
    is_machine: bool
    roles: list[RoleOut]
    data_scope: str | None
    org_unit: OrgUnitOut | None
    authenticated_by: str


@router.get("", response=MeOut, summary="The signed-in user")
def me(request: HttpRequest) -> dict[str, Any]:
    """The caller: roles, the data scope they act with, their org unit and language."""
    user = request.user
    unit = user.org_unit
    return {
        "id": user.pk,
        "username": user.username,
        "display_name": str(user),
        "email": user.email,
        "language": user.language,
        "is_machine": user.is_machine,
        "roles": [{"code": r.code, "name": str(r)} for r in user.roles.all()],
        "data_scope": user_scope(user),
        "org_unit": (
            {"id": unit.pk, "code": unit.code, "name": unit.name, "path": unit.path} if unit else None
        ),
        "authenticated_by": "token" if getattr(request, "api_token", None) else "session",
    }
