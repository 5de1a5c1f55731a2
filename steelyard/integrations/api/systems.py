"""External systems over the API (/api/v1/integrations/systems/), for administrators.

- ``GET/POST /systems``, ``GET/PATCH /systems/{id}``: register and edit systems (creating one creates
  its machine user). ``is_active`` in a PATCH activates or deactivates it (and its machine user).
- ``GET/POST /systems/{id}/tokens``, ``DELETE /systems/{id}/tokens/{token_id}``: the machine user's
  tokens; the POST answers the clear token once.
- ``GET /systems/{id}/batches``: its inbound batches, filtered like the console's batch list.

Everyone else gets 403; lists use keyset pagination; service errors answer 400 with field details.
"""

# No ``from __future__ import annotations``: ninja resolves the schemas' annotations at runtime.

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema, Status

from steelyard.core.api.pagination import KeysetPagination, paginate
from steelyard.core.services.tokens import MAX_EXPIRY_DAYS
from steelyard.integrations.forms import BatchFilter
from steelyard.integrations.models import ExternalSystem
from steelyard.integrations.selectors import systems as selectors
from steelyard.integrations.services import systems as services

router = Router(tags=["integrations"])


# --- schemas ------------------------------------------------------------------------------


class SystemOut(Schema):
    id: int
    code: str
    name: str
    kind: str
    description: str
    entities: list[str]
    is_active: bool
    user_id: int | None
    username: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_username(obj: ExternalSystem) -> str | None:
        return obj.user.username if obj.user_id else None


class SystemIn(Schema):
    code: str = Field(..., min_length=1, max_length=30)
    name: str = Field(..., min_length=1, max_length=100)
    kind: str = "erp"
    description: str = ""
    entities: list[str] = []


class SystemPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    kind: str | None = None
    description: str | None = None
    entities: list[str] | None = None
    is_active: bool | None = None


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    status: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class TokenCreatedOut(TokenOut):
    token: str = Field(description="The token itself. It is shown only this once; store it safely.")


class TokenIn(Schema):
    name: str = Field(..., min_length=1, max_length=80)
    expires_in_days: int | None = Field(None, ge=1, le=MAX_EXPIRY_DAYS)


class BatchOut(Schema):
    id: int
    system_id: int
    entity: str
    via: str
    actor_id: int | None
    received_at: dt.datetime
    finished_at: dt.datetime | None
    total: int
    created: int
    updated: int
    unchanged: int
    rejected: int
    duration_ms: int


class BatchParams(Schema):
    entity: str | None = None
    via: str | None = None
    rejected: str | None = Field(None, description="1: with rejections; 0: without.")
    date_from: dt.date | None = None
    date_to: dt.date | None = None


# --- systems ------------------------------------------------------------------------------


@router.get("", response=list[SystemOut], summary="List external systems")
@paginate(KeysetPagination, ordering=("code",))
def system_list(request: HttpRequest) -> Any:
    return selectors.system_base(user=request.user)


@router.post("", response={201: SystemOut}, summary="Register an external system")
def system_create(request: HttpRequest, payload: SystemIn) -> Status:
    """Creates the system and its machine user ``sys-<code>`` (role integration, no password)."""
    system = services.external_system_create(actor=request.user, **payload.dict())
    return Status(201, system)


@router.get("/{int:system_id}", response=SystemOut, summary="An external system")
def system_get(request: HttpRequest, system_id: int) -> Any:
    return selectors.system_get(user=request.user, pk=system_id)


@router.patch("/{int:system_id}", response=SystemOut, summary="Change an external system")
def system_update(request: HttpRequest, system_id: int, payload: SystemPatch) -> Any:
    system = selectors.system_get(user=request.user, pk=system_id)
    data = payload.dict(exclude_unset=True)
    active = data.pop("is_active", None)
    data = {k: v for k, v in data.items() if v is not None}
    if data:
        system = services.external_system_update(actor=request.user, system=system, **data)
    if active is not None and active != system.is_active:
        system = services.external_system_set_active(actor=request.user, system=system, active=active)
    return selectors.system_get(user=request.user, pk=system_id)


# --- tokens -------------------------------------------------------------------------------


@router.get("/{int:system_id}/tokens", response=list[TokenOut], summary="The system's tokens")
@paginate(KeysetPagination, ordering=("-id",))
def token_list(request: HttpRequest, system_id: int) -> Any:
    system = selectors.system_get(user=request.user, pk=system_id)
    return selectors.system_tokens(user=request.user, system=system)


@router.post("/{int:system_id}/tokens", response={201: TokenCreatedOut}, summary="Issue a token")
def token_create(request: HttpRequest, system_id: int, payload: TokenIn) -> Status:
    """A token for the system's machine user. The response carries it once; only its hash is kept."""
    system = selectors.system_get(user=request.user, pk=system_id)
    issued = services.system_token_issue(
        actor=request.user, system=system, name=payload.name, expires_in_days=payload.expires_in_days
    )
    data = TokenOut.model_validate(issued.token).model_dump()
    return Status(201, {**data, "token": issued.plain})


@router.delete("/{int:system_id}/tokens/{int:token_id}", response={204: None}, summary="Revoke a token")
def token_revoke(request: HttpRequest, system_id: int, token_id: int) -> Status:
    system = selectors.system_get(user=request.user, pk=system_id)
    token = get_object_or_404(selectors.system_tokens(user=request.user, system=system), pk=token_id)
    services.system_token_revoke(actor=request.user, system=system, token=token)
    return Status(204, None)


# --- batches ------------------------------------------------------------------------------


@router.get("/{int:system_id}/batches", response=list[BatchOut], summary="The system's inbound batches")
@paginate(KeysetPagination, ordering=("-received_at", "-id"))
def batch_list(request: HttpRequest, system_id: int, filters: Query[BatchParams]) -> Any:
    system = selectors.system_get(user=request.user, pk=system_id)
    params = {k: v for k, v in filters.dict().items() if v not in (None, "")}
    f = BatchFilter(params, user=request.user, with_system=False)
    if not f.is_valid():
        raise ValidationError({name: list(errs) for name, errs in f.errors.items()})
    return selectors.batch_list(user=request.user, filters=params, system=system)
