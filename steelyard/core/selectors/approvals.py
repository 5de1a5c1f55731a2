"""Reading approval requests, always scoped to the person asking.

A user sees the requests they raised, those they are an approver of, and those their data scope covers
(a manager sees the requests of their team); ``ApprovalRequest.objects.visible_to`` decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, NullIf

from steelyard.core.models import ApprovalRequest, ApprovalRoute, ApprovalStatus, ApprovalStep

if TYPE_CHECKING:
    from steelyard.org.models import User

TAB_WAITING = "waiting"
TAB_MINE = "mine"
TAB_ALL = "all"
TABS = (TAB_WAITING, TAB_MINE, TAB_ALL)

SORTS = {
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
    "title": ("title", "id"),
    "status": ("status", "-created_at", "-id"),
}
DEFAULT_SORT = "newest"


def _current_approver() -> tuple[Subquery, Subquery]:
    step = ApprovalStep.objects.filter(request=OuterRef("pk"), order=OuterRef("current_step"))
    name = Coalesce(NullIf(F("approver__display_name"), Value("")), F("approver__username"))
    return (
        Subquery(step.values("approver_id")[:1]),
        Subquery(step.annotate(n=name).values("n")[:1]),
    )


def approval_list(*, user: User, filters: Mapping[str, Any] | None = None) -> QuerySet[ApprovalRequest]:
    """Requests ``user`` may see, filtered.

    ``filters``: ``tab`` ("waiting" for me to decide, "mine" that I raised, "all" I can see — default),
    ``status``, ``kind``, ``q`` (title, reason or requester), ``sort`` (newest, oldest, title, status).
    Each row carries ``current_approver_id`` and ``current_approver_name``.
    """
    f = filters or {}
    approver_id, approver_name = _current_approver()
    qs = (
        ApprovalRequest.objects.visible_to(user)
        .select_related("requester", "content_type")
        .annotate(current_approver_id=approver_id, current_approver_name=approver_name)
    )
    tab = f.get("tab") or TAB_ALL
    if tab == TAB_WAITING:
        qs = qs.filter(
            status=ApprovalStatus.PENDING,
            pk__in=ApprovalStep.objects.filter(approver=user.pk, request__current_step=F("order")).values(
                "request_id"
            ),
        )
    elif tab == TAB_MINE:
        qs = qs.filter(requester=user.pk)
    if f.get("status") in ApprovalStatus.values:
        qs = qs.filter(status=f["status"])
    if f.get("kind"):
        qs = qs.filter(kind=f["kind"])
    if f.get("q"):
        term = str(f["q"]).strip()
        qs = qs.filter(
            Q(title__icontains=term)
            | Q(reason__icontains=term)
            | Q(requester__display_name__icontains=term)
            | Q(requester__username__icontains=term)
        )
    return qs.order_by(*SORTS.get(str(f.get("sort") or DEFAULT_SORT), SORTS[DEFAULT_SORT]))


def approvals_waiting_for(user: User) -> QuerySet[ApprovalRequest]:
    """Pending requests whose current step is ``user``'s to decide, oldest first."""
    return approval_list(user=user, filters={"tab": TAB_WAITING, "sort": "oldest"})


def approval_detail(*, user: User, pk: int) -> ApprovalRequest | None:
    """One request ``user`` may see, or None."""
    return (
        ApprovalRequest.objects.visible_to(user)
        .select_related("requester", "content_type")
        .filter(pk=pk)
        .first()
    )


def approval_steps(request: ApprovalRequest) -> QuerySet[ApprovalStep]:
    return request.steps.select_related("approver").order_by("order")


def approval_events(request: ApprovalRequest) -> QuerySet[Any]:
    return request.events.select_related("actor").order_by("at", "id")


def approval_route_list() -> QuerySet[ApprovalRoute]:
    return ApprovalRoute.objects.all()
