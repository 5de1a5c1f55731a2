"""Django admin for organisation records, read-only.

People, units, roles, positions and qualifications are changed on the application's own
pages (/org/…), which go through the audited services; the admin site only shows them.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from steelyard.org.models import (
    OrgUnit,
    Position,
    PositionAssignment,
    Qualification,
    Role,
    User,
    UserQualification,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields if f.name != "password"]

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["password"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(OrgUnit)
class OrgUnitAdmin(ReadOnlyAdmin):
    list_display = ("name", "code", "kind", "parent", "manager", "is_active", "path")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "code")
    list_select_related = ("parent", "manager")


@admin.register(User)
class UserAdmin(ReadOnlyAdmin):
    list_display = ("username", "display_name", "email", "org_unit", "manager", "is_active")
    list_filter = ("is_active", "roles", "is_machine")
    search_fields = ("username", "display_name", "email", "phone")
    list_select_related = ("org_unit", "manager")


@admin.register(Role)
class RoleAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "data_scope", "is_machine")


@admin.register(Qualification)
class QualificationAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "validity_months")
    search_fields = ("code", "name")


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "category", "is_active")
    list_filter = ("category", "is_active")


@admin.register(UserQualification)
class UserQualificationAdmin(ReadOnlyAdmin):
    list_display = ("user", "qualification", "obtained_on", "expires_on")
    list_select_related = ("user", "qualification")


@admin.register(PositionAssignment)
class PositionAssignmentAdmin(ReadOnlyAdmin):
    list_display = ("user", "position", "since")
    list_select_related = ("user", "position")
