"""The inbound integration API (/api/v1/integrations/inbound/).

- ``POST /{entity}`` with ``{"records": [...]}`` (at most 1000): the records are validated and
  upserted idempotently (``services.inbound.batch_apply``); the answer is 200 with the batch id,
  the counts and one result per record, in order. A record's validation errors are that record's
  rejection, never a 422 for the whole batch. Only the machine user of an active external system
  may post, and only the entities the system may write.
- ``GET /batches`` and ``GET /batches/{id}`` (with its results, keyset-paginated): the system's own
  batches for its machine user, every batch for administrators.
"""

# No ``from __future__ import annotations``: ninja resolves the schemas' annotations at runtime.

import datetime as dt
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema

from steelyard.core.api.errors import FORBIDDEN, NOT_FOUND, PAYLOAD_TOO_LARGE, ApiError
from steelyard.core.api.pagination import KeysetPagination, paginate
from steelyard.integrations.models import Outcome, Via
from steelyard.integrations.selectors import inbound as selectors
from steelyard.integrations.services import inbound as services

router = Router(tags=["integrations"])

MSG_NOT_A_SYSTEM = _("Only the integration user of an active external system may send records.")
MSG_NOT_ALLOWED = _("This system may not send %(entity)s.")
MSG_UNKNOWN_ENTITY = _("“%(entity)s” is not something a system can send. Known: %(known)s.")
MSG_TOO_MANY = _("At most %(max)s records per call; send the rest in another call.")
MSG_NO_ACCESS = _("Only administrators and the sending system may read inbound batches.")
MSG_NO_BATCH = _("This batch does not exist, or you do not have access to it.")


# --- schemas ------------------------------------------------------------------------------------


class BatchIn(Schema):
    records: list[Any] = Field(..., description="The records, each an object of the entity's schema.")


class ReasonOut(Schema):
    field: str
    message: str


class ResultOut(Schema):
    position: int
    external_id: str
    outcome: str
    object_id: int | None
    reasons: list[ReasonOut]


class CountsOut(Schema):
    total: int
    created: int
    updated: int
    unchanged: int
    rejected: int


class BatchPostOut(Schema):
    batch_id: int
    entity: str
    counts: CountsOut
    results: list[ResultOut]


class BatchOut(Schema):
    id: int
    system: str = Field(..., alias="system.code")
    entity: str
    via: str
    received_at: dt.datetime
    finished_at: dt.datetime | None
    total: int
    created: int
    updated: int
    unchanged: int
    rejected: int
    duration_ms: int


class BatchDetailOut(BatchOut):
    results: list[ResultOut] = Field(..., alias="results_page")
    next_cursor: str | None


class BatchFilters(Schema):
    system: str | None = Field(None, description="System code (administrators).")
    entity: str | None = None
    via: Via | None = None


class ResultFilters(Schema):
    outcome: Outcome | None = None
    limit: int = Field(100, ge=1, le=500)
    cursor: str | None = None


# --- routes -------------------------------------------------------------------------------------


def _require_reader(request: HttpRequest) -> None:
    if not selectors.may_read_batches(request.user):
        raise ApiError(403, FORBIDDEN, str(MSG_NO_ACCESS))


@router.get("/batches", response=list[BatchOut], summary="Inbound batches")
@paginate(KeysetPagination, ordering=("-received_at", "-id"))
def batch_list(request: HttpRequest, filters: Query[BatchFilters]) -> Any:
    """The batches received (the caller's own system's, or all for administrators), newest first."""
    _require_reader(request)
    return selectors.inbound_batch_list(user=request.user, filters=filters.dict())


@router.get("/batches/{batch_id}", response=BatchDetailOut, summary="One inbound batch with its results")
def batch_detail(request: HttpRequest, batch_id: int, filters: Query[ResultFilters]) -> Any:
    """The batch and its results in order (``limit``/``cursor`` page through them)."""
    _require_reader(request)
    batch = selectors.inbound_batch_get(user=request.user, pk=batch_id)
    if batch is None:
        raise ApiError(404, NOT_FOUND, str(MSG_NO_BATCH))
    pager = KeysetPagination(ordering=("position", "id"))
    page = pager.paginate_queryset(
        selectors.inbound_result_list(batch=batch, outcome=filters.outcome),
        KeysetPagination.Input(limit=filters.limit, cursor=filters.cursor),
        request,
    )
    batch.results_page = page["items"]  # type: ignore[attr-defined]
    batch.next_cursor = page["next_cursor"]  # type: ignore[attr-defined]
    return batch


@router.post("/{entity}", response=BatchPostOut, summary="Send a batch of records")
def batch_post(request: HttpRequest, entity: str, payload: BatchIn) -> Any:
    """Upsert records of ``entity`` idempotently; one result per record, in order."""
    system = selectors.sending_system(request.user)
    if system is None:
        raise ApiError(403, FORBIDDEN, str(MSG_NOT_A_SYSTEM))
    if entity not in services.ENTITIES:
        raise ApiError(
            404,
            NOT_FOUND,
            str(MSG_UNKNOWN_ENTITY % {"entity": entity, "known": ", ".join(services.ENTITIES)}),
        )
    if not services.entity_allowed(system, entity):
        raise ApiError(403, FORBIDDEN, str(MSG_NOT_ALLOWED % {"entity": entity}))
    if len(payload.records) > services.MAX_API_RECORDS:
        message = str(MSG_TOO_MANY % {"max": services.MAX_API_RECORDS})
        raise ApiError(413, PAYLOAD_TOO_LARGE, message, [{"field": "body.records", "message": message}])
    with transaction.atomic():
        outcome = services.batch_apply(
            system=system, entity=entity, records=payload.records, actor=request.user, via=Via.API
        )
    return {
        "batch_id": outcome.batch.pk,  # type: ignore[union-attr]
        "entity": entity,
        "counts": outcome.counts,
        "results": [
            {
                "position": r.position,
                "external_id": r.external_id,
                "outcome": str(r.outcome),
                "object_id": r.object_id,
                "reasons": [
                    {"field": str(x.get("field", "")), "message": str(x.get("message", ""))}
                    for x in r.reasons
                ],
            }
            for r in outcome.results
        ],
    }
