"""Reading the audit log: the administrators' list and the trail of one record."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from steelyard.core.filters import ListFilter
from steelyard.core.models import AuditAction, AuditLog

if TYPE_CHECKING:
    from steelyard.org.models import User

DATE_INPUT = forms.DateInput(
    attrs={"type": "date", "class": "form-control form-control-sm"}, format="%Y-%m-%d"
)


class AuditLogFilter(ListFilter):
    """Filters of the audit log, shared by the page and any export of it."""

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    actor = forms.CharField(
        label=_("Who"), required=False, max_length=150, help_text=_("Username or the name as recorded.")
    )
    action = forms.ChoiceField(
        label=_("Action"), choices=[("", _("All actions")), *AuditAction.choices], required=False
    )
    object_type = forms.ModelChoiceField(
        label=_("Object type"), queryset=ContentType.objects.order_by("app_label", "model"), required=False
    )
    object_id = forms.CharField(label=_("Object id"), required=False, max_length=64)
    date_from = forms.DateField(label=_("From"), required=False, widget=DATE_INPUT)
    date_to = forms.DateField(label=_("To"), required=False, widget=DATE_INPUT)
    request_id = forms.CharField(label=_("Request id"), required=False, max_length=64)

    sort_fields = {"at": ("at",), "action": ("action", "at"), "actor": ("actor_repr", "at")}
    default_sort = "-at"

    def filter_queryset(self, queryset: QuerySet, data: dict[str, Any]) -> QuerySet:
        if data.get("q"):
            queryset = queryset.filter(object_repr__icontains=data["q"])
        if data.get("actor"):
            a = data["actor"]
            queryset = queryset.filter(Q(actor__username=a) | Q(actor_repr__icontains=a))
        if data.get("action"):
            queryset = queryset.filter(action=data["action"])
        if data.get("object_type"):
            queryset = queryset.filter(content_type=data["object_type"])
        if data.get("object_id"):
            queryset = queryset.filter(object_id=data["object_id"])
        if data.get("date_from"):
            queryset = queryset.filter(at__date__gte=data["date_from"])
        if data.get("date_to"):
            queryset = queryset.filter(at__date__lte=data["date_to"])
        if data.get("request_id"):
            queryset = queryset.filter(request_id=data["request_id"])
        return queryset


def audit_list(*, user: User, filters: Any = None) -> QuerySet[AuditLog]:
    """Audit entries ``user`` may read, newest first, filtered by :class:`AuditLogFilter`."""
    qs = AuditLog.objects.visible_to(user).select_related("actor", "content_type")
    return AuditLogFilter(filters or {}, user=user).apply(qs)


def audit_for_object(*, user: User, obj: models.Model, limit: int = 20) -> list[AuditLog]:
    """The latest ``limit`` entries about ``obj`` that ``user`` may read (uses the object index)."""
    ct = ContentType.objects.get_for_model(obj)
    return list(
        AuditLog.objects.visible_to(user)
        .filter(content_type=ct, object_id=str(obj.pk))
        .select_related("actor")
        .order_by("-at", "-id")[:limit]
    )
