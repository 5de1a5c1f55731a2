"""Reading file imports and import templates.

A file import can hold any data its uploader could send, so a wider data scope does not open other
people's imports: a person sees the imports they uploaded, administrators see all (as for jobs).
Templates are shared settings: every importer sees them all.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from steelyard.core.access import ADMINISTRATOR, user_has_role
from steelyard.core.filters import ListFilter
from steelyard.integrations.models import ExternalSystem, FileImport, FileImportStatus, ImportTemplate


def file_import_base(*, user: Any) -> QuerySet[FileImport]:
    """The file imports ``user`` may open."""
    qs = FileImport.objects.visible_to(user)
    if not user_has_role(user, ADMINISTRATOR):
        qs = qs.filter(created_by_id=user.pk)
    return qs


class FileImportFilter(ListFilter):
    """The filters of the import list (the page and ``GET /api/v1/integrations/imports/``)."""

    system = forms.ModelChoiceField(
        label=_("System"),
        required=False,
        queryset=ExternalSystem.objects.none(),
        empty_label=_("All systems"),
    )
    entity = forms.ChoiceField(label=_("Records"), required=False)
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All statuses")), *FileImportStatus.choices]
    )
    q = forms.CharField(label=_("File name"), required=False, max_length=100)

    sort_fields = {"created": ("created_at",), "name": ("original_name",), "status": ("status",)}
    default_sort = "-created"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from steelyard.integrations.services.imports import entity_choices

        self.fields["system"].queryset = ExternalSystem.objects.order_by("code")
        self.fields["system"].widget.choices = self.fields["system"].choices
        self.fields["entity"].choices = [("", _("All kinds")), *entity_choices()]
        self.fields["entity"].widget.choices = self.fields["entity"].choices

    def filter_queryset(self, queryset: QuerySet, data: dict[str, Any]) -> QuerySet:
        if data.get("system"):
            queryset = queryset.filter(system=data["system"])
        if data.get("entity"):
            queryset = queryset.filter(entity=data["entity"])
        if data.get("status"):
            queryset = queryset.filter(status=data["status"])
        if data.get("q"):
            queryset = queryset.filter(original_name__icontains=data["q"])
        return queryset


def file_import_list(*, user: Any, filters: Any = None) -> QuerySet[FileImport]:
    """Visible imports, filtered and sorted by :class:`FileImportFilter` (newest first)."""
    f = FileImportFilter(filters or {}, user=user)
    return f.apply(file_import_base(user=user)).select_related("system", "created_by")


def file_import_get(*, user: Any, pk: int) -> FileImport | None:
    return (
        file_import_base(user=user)
        .select_related("system", "created_by", "job", "template", "batch")
        .filter(pk=pk)
        .first()
    )


def import_template_list(
    *, entity: str | None = None, system: ExternalSystem | None = None
) -> QuerySet[ImportTemplate]:
    """Templates, for one entity and usable with ``system`` (its own or the ones for any system)."""
    qs = ImportTemplate.objects.select_related("system", "created_by").order_by("entity", "name")
    if entity:
        qs = qs.filter(entity=entity)
    if system is not None:
        qs = qs.filter(Q(system__isnull=True) | Q(system=system))
    return qs


def active_systems() -> QuerySet[ExternalSystem]:
    return ExternalSystem.objects.filter(is_active=True).order_by("code")
