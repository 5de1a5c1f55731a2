"""Notifications over the API: the caller's own inbox."""

# No ``from __future__ import annotations`` here: ninja's ``paginate`` wrapper resolves the
# view's annotations in its own module, so they must be real objects, not strings.

import datetime as dt
from typing import Literal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema
from ninja.pagination import paginate

from steelyard.core.api.pagination import KeysetPagination
from steelyard.core.selectors.notifications import ALL, UNREAD, notification_list, unread_count
from steelyard.core.services.notifications import notification_mark_all_read, notification_mark_read

router = Router(tags=["notifications"])


class NotificationOut(Schema):
    id: int
    event: str
    title: str
    body: str
    url: str
    actor_id: int | None
    created_at: dt.datetime
    read_at: dt.datetime | None


class UnreadCountOut(Schema):
    unread: int


class MarkedOut(Schema):
    marked: int


@router.get("/", response=list[NotificationOut])
@paginate(KeysetPagination, ordering=("-created_at", "-id"))
def list_notifications(request: HttpRequest, state: Literal["unread", "all"] = UNREAD):  # type: ignore[no-untyped-def]
    """The caller's notifications, newest first; ``state`` is "unread" (default) or "all"."""
    return notification_list(user=request.user, filters={"state": state})


@router.get("/unread-count", response=UnreadCountOut)
def get_unread_count(request: HttpRequest) -> dict[str, int]:
    return {"unread": unread_count(request.user)}


@router.post("/{int:notification_id}/read", response=NotificationOut)
def mark_read(request: HttpRequest, notification_id: int):  # type: ignore[no-untyped-def]
    notification = get_object_or_404(
        notification_list(user=request.user, filters={"state": ALL}), pk=notification_id
    )
    return notification_mark_read(actor=request.user, notification=notification)


@router.post("/read-all", response=MarkedOut)
def mark_all_read(request: HttpRequest) -> dict[str, int]:
    return {"marked": notification_mark_all_read(actor=request.user)}
