"""``GET /api/v1/audit``: the audit log, read-only, for administrators."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema

from steelyard.core import access
from steelyard.core.api.pagination import KeysetPagination, paginate
from steelyard.core.models import AuditAction, AuditLog

router = Router(tags=["audit"])

ERR_ADMIN_ONLY = _("Only administrators may read the audit log.")
ERR_OBJECT_TYPE = _("Unknown object type. Use the form app_label.model, e.g. org.user.")
ERR_DATE_RANGE = _("The start date must not be after the end date.")


class AuditFilters(Schema):
    """The audit log's filter set. Dates are whole days in the server's time zone, both inclusive."""

    actor: int | None = Field(None, description="User id of who did it.")
    action: AuditAction | None = None
    verb: str | None = Field(None, max_length=80)
    object_type: str | None = Field(None, description="app_label.model, e.g. org.user.")
    object_id: str | None = Field(None, max_length=64)
    date_from: dt.date | None = None
    date_to: dt.date | None = None


class AuditOut(Schema):
    id: int
    at: dt.datetime
    actor_id: int | None
    actor: str = Field(alias="actor_repr")
    action: str
    verb: str
    object_type: str | None
    object_id: str
    object_repr: str
    changes: dict[str, Any]
    request_id: str
    ip: str | None
    extra: dict[str, Any]

    @staticmethod
    def resolve_object_type(obj: AuditLog) -> str | None:
        ct = obj.content_type
        return f"{ct.app_label}.{ct.model}" if ct else None


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def audit_filter(qs: QuerySet[AuditLog], filters: AuditFilters) -> QuerySet[AuditLog]:
    """Apply ``filters`` to an audit-log queryset; raises ``ValidationError`` with field details."""
    errors: dict[str, list[Any]] = {}
    if filters.actor is not None:
        qs = qs.filter(actor_id=filters.actor)
    if filters.action:
        qs = qs.filter(action=filters.action)
    if filters.verb:
        qs = qs.filter(verb=filters.verb)
    if filters.object_type:
        app_label, _dot, model = filters.object_type.lower().partition(".")
        ct = ContentType.objects.filter(app_label=app_label, model=model).first()
        if ct is None:
            errors["query.object_type"] = [ERR_OBJECT_TYPE]
        else:
            qs = qs.filter(content_type=ct)
    if filters.object_id:
        qs = qs.filter(object_id=filters.object_id)
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        errors["query.date_from"] = [ERR_DATE_RANGE]
    if filters.date_from:
        qs = qs.filter(at__gte=_day_start(filters.date_from))
    if filters.date_to:
        qs = qs.filter(at__lt=_day_start(filters.date_to + dt.timedelta(days=1)))
    if errors:
        raise ValidationError(errors)
    return qs


@router.get("", response=list[AuditOut], summary="Read the audit log")
@paginate(KeysetPagination, ordering=("-id",))
def audit_list(request: HttpRequest, filters: Query[AuditFilters]) -> QuerySet[AuditLog]:
    """Who did what, newest first. Administrators only."""
    if not access.user_has_role(request.user, access.ADMINISTRATOR):
        raise PermissionDenied(ERR_ADMIN_ONLY)
    qs = AuditLog.objects.visible_to(request.user).select_related("content_type")
    return audit_filter(qs, filters)
