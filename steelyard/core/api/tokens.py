"""``/api/v1/tokens``: the caller's own personal API tokens."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema
from ninja.responses import Status

from steelyard.core.api.pagination import KeysetPagination, paginate
from steelyard.core.models import ApiToken
from steelyard.core.services.tokens import MAX_EXPIRY_DAYS, api_token_create, api_token_revoke

router = Router(tags=["tokens"])


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
    name: str = Field(min_length=1, max_length=80)
    expires_in_days: int | None = Field(None, ge=1, le=MAX_EXPIRY_DAYS)


def own_tokens(request: HttpRequest) -> QuerySet[ApiToken]:
    # Tokens are personal: even a manager whose scope covers the owner does not see them.
    return ApiToken.objects.filter(user=request.user)


@router.get("", response=list[TokenOut], summary="List my tokens")
@paginate(KeysetPagination, ordering=("-id",))
def token_list(request: HttpRequest) -> QuerySet[ApiToken]:
    return own_tokens(request)


@router.post("", response={201: TokenCreatedOut}, summary="Create a token")
def token_create(request: HttpRequest, payload: TokenIn) -> Status:
    """Create a token acting as you. The response carries the token once; only its hash is kept."""
    issued = api_token_create(actor=request.user, name=payload.name, expires_in_days=payload.expires_in_days)
    data = TokenOut.model_validate(issued.token).model_dump()
    return Status(201, {**data, "token": issued.plain})


@router.delete("/{int:token_id}", response={204: None}, summary="Revoke a token")
def token_revoke(request: HttpRequest, token_id: int) -> Status:
    token = get_object_or_404(own_tokens(request), pk=token_id)
    api_token_revoke(actor=request.user, token=token)
    return Status(204, None)
