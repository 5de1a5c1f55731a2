"""Approvals over HTTP: list, read, raise, decide, comment on and withdraw approval requests.

Thin routes over ``core.selectors.approvals`` and ``core.services.approvals``; every read is scoped, and a
request the caller cannot see answers 404.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError
from ninja.pagination import paginate

from steelyard.core.api.pagination import KeysetPagination
from steelyard.core.models import ApprovalRequest
from steelyard.core.selectors import approvals as selectors
from steelyard.core.services import approvals as services

router = Router(tags=["approvals"])


class PersonOut(Schema):
    id: int
    name: str

    @staticmethod
    def resolve_name(obj: Any) -> str:
        return obj["name"] if isinstance(obj, dict) else str(obj)


class ApprovalOut(Schema):
    id: int
    kind: str
    title: str
    status: str
    subject_type: str
    subject_id: str
    requested_change: dict[str, Any]
    reason: str
    requester: PersonOut
    current_step: int
    current_approver_id: int | None = None
    created_at: dt.datetime
    decided_at: dt.datetime | None = None

    @staticmethod
    def resolve_subject_type(obj: Any) -> str:
        if isinstance(obj, dict):
            return obj["subject_type"]
        return f"{obj.content_type.app_label}.{obj.content_type.model}"

    @staticmethod
    def resolve_subject_id(obj: Any) -> str:
        return obj["subject_id"] if isinstance(obj, dict) else obj.object_id


class StepOut(Schema):
    order: int
    approver: PersonOut
    rule: dict[str, Any]
    decision: str
    comment: str
    decided_at: dt.datetime | None = None


class EventOut(Schema):
    event: str
    actor: PersonOut | None = None
    comment: str
    at: dt.datetime


class ApprovalDetailOut(ApprovalOut):
    steps: list[StepOut]
    events: list[EventOut]


class ApprovalIn(Schema):
    kind: str
    subject_type: str = Field(..., description='"app_label.model", e.g. "org.user"')
    subject_id: str
    requested_change: dict[str, Any] = {}
    reason: str
    title: str | None = None


class DecisionIn(Schema):
    decision: str = Field(..., description="approve or reject")
    comment: str = ""


class CommentIn(Schema):
    comment: str


def _person(user: Any) -> dict[str, Any] | None:
    return {"id": user.pk, "name": str(user)} if user is not None else None


def _out(r: ApprovalRequest) -> dict[str, Any]:
    return {
        "id": r.pk,
        "kind": r.kind,
        "title": r.title,
        "status": r.status,
        "subject_type": f"{r.content_type.app_label}.{r.content_type.model}",
        "subject_id": r.object_id,
        "requested_change": r.requested_change,
        "reason": r.reason,
        "requester": _person(r.requester),
        "current_step": r.current_step,
        "current_approver_id": getattr(r, "current_approver_id", None),
        "created_at": r.created_at,
        "decided_at": r.decided_at,
    }


def _detail(r: ApprovalRequest) -> dict[str, Any]:
    data = _out(r)
    data["current_approver_id"] = next(
        (s.approver_id for s in selectors.approval_steps(r) if s.order == r.current_step), None
    )
    data["steps"] = [
        {
            "order": s.order,
            "approver": _person(s.approver),
            "rule": s.rule,
            "decision": s.decision,
            "comment": s.comment,
            "decided_at": s.decided_at,
        }
        for s in selectors.approval_steps(r)
    ]
    data["events"] = [
        {"event": e.event, "actor": _person(e.actor), "comment": e.comment, "at": e.at}
        for e in selectors.approval_events(r)
    ]
    return data


def _get(request: HttpRequest, pk: int) -> ApprovalRequest:
    r = selectors.approval_detail(user=request.user, pk=pk)
    if r is None:
        raise HttpError(404, "Not found")
    return r


@router.get("/", response=list[ApprovalOut])
@paginate(KeysetPagination, ordering=("-created_at", "-id"))
def approval_list(
    request: HttpRequest, tab: str = "all", status: str = "", kind: str = "", q: str = ""
) -> Any:
    """Approval requests the caller can see, newest first, one keyset page at a time.

    ``tab``: waiting (for my decision), mine (I raised) or all (I can see); ``status``, ``kind``, ``q``
    (search in title, reason, requester) filter as on the /approvals/ page.
    """
    filters = {"tab": tab, "status": status, "kind": kind, "q": q}
    return selectors.approval_list(user=request.user, filters=filters)


@router.get("/{int:pk}", response=ApprovalDetailOut)
def approval_detail(request: HttpRequest, pk: int) -> Any:
    return _detail(_get(request, pk))


@router.post("/", response={201: ApprovalDetailOut})
def approval_create(request: HttpRequest, payload: ApprovalIn) -> Any:
    try:
        app_label, model = payload.subject_type.lower().split(".", 1)
        model_class = ContentType.objects.get_by_natural_key(app_label, model).model_class()
    except (ValueError, ContentType.DoesNotExist):
        raise HttpError(422, "Unknown subject_type")
    if model_class is None or not hasattr(model_class._default_manager, "visible_to"):
        raise HttpError(422, "Approvals cannot be raised on this subject_type")
    subject = model_class._default_manager.visible_to(request.user).filter(pk=payload.subject_id).first()
    if subject is None:
        raise HttpError(404, "Subject not found")
    try:
        r = services.approval_request_create(
            actor=request.user,
            subject=subject,
            kind=payload.kind,
            requested_change=payload.requested_change,
            reason=payload.reason,
            title=payload.title,
        )
    except PermissionDenied as exc:
        raise HttpError(403, str(exc) or "Forbidden")
    return Status(201, _detail(_get(request, r.pk)))


@router.post("/{int:pk}/decide", response=ApprovalDetailOut)
def approval_decide(request: HttpRequest, pk: int, payload: DecisionIn) -> Any:
    r = _get(request, pk)
    try:
        services.approval_decide(
            actor=request.user, request=r, decision=payload.decision, comment=payload.comment
        )
    except PermissionDenied as exc:
        raise HttpError(403, str(exc) or "Forbidden")
    return _detail(_get(request, pk))


@router.post("/{int:pk}/comment", response=ApprovalDetailOut)
def approval_comment(request: HttpRequest, pk: int, payload: CommentIn) -> Any:
    r = _get(request, pk)
    try:
        services.approval_comment(actor=request.user, request=r, comment=payload.comment)
    except PermissionDenied as exc:
        raise HttpError(403, str(exc) or "Forbidden")
    return _detail(_get(request, pk))


@router.post("/{int:pk}/cancel", response=ApprovalDetailOut)
def approval_cancel(request: HttpRequest, pk: int) -> Any:
    r = _get(request, pk)
    try:
        services.approval_cancel(actor=request.user, request=r)
    except PermissionDenied as exc:
        raise HttpError(403, str(exc) or "Forbidden")
    return _detail(_get(request, pk))
