"""Django admin for core records: the audit log is shown read-only (no add, change or delete)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from steelyard.core.models import AuditLog


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    list_display = ("at", "actor_repr", "action", "verb", "content_type", "object_id", "object_repr")
    list_filter = ("action", "content_type")
    search_fields = ("object_repr", "actor_repr", "request_id", "object_id")
    date_hierarchy = "at"
    list_select_related = ("content_type",)
    show_full_result_count = False  # the log is large; never count it all

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
