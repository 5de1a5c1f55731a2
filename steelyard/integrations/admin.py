"""Django admin for the integration records: read-mostly views for support.

Systems are registered and changed in the integration console (which also creates their machine user
and audits every change), so here they are read-only; batches, results and the key map are the
record of what happened and are never edited by hand.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from steelyard.integrations.models import (
    ExternalRecord,
    ExternalSystem,
    FileImport,
    InboundBatch,
    InboundResult,
    OutboundMessage,
    WebhookDelivery,
    WebhookSubscription,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ExternalSystem)
class ExternalSystemAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "kind", "is_active", "user", "updated_at")
    list_filter = ("kind", "is_active")
    search_fields = ("code", "name")
    list_select_related = ("user",)


@admin.register(InboundBatch)
class InboundBatchAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "system",
        "entity",
        "via",
        "received_at",
        "total",
        "created",
        "updated",
        "unchanged",
        "rejected",
    )
    list_filter = ("via", "entity", "system")
    date_hierarchy = "received_at"
    list_select_related = ("system",)
    show_full_result_count = False


@admin.register(InboundResult)
class InboundResultAdmin(ReadOnlyAdmin):
    list_display = ("batch", "position", "external_id", "outcome", "object_id")
    list_filter = ("outcome",)
    search_fields = ("external_id",)
    raw_id_fields = ("batch",)
    show_full_result_count = False


@admin.register(ExternalRecord)
class ExternalRecordAdmin(ReadOnlyAdmin):
    list_display = ("system", "entity", "external_id", "object_id", "version", "applied_at")
    list_filter = ("system", "entity")
    search_fields = ("external_id",)
    list_select_related = ("system",)
    show_full_result_count = False


@admin.register(FileImport)
class FileImportAdmin(ReadOnlyAdmin):
    list_display = ("original_name", "system", "entity", "status", "total", "rejected", "created_at")
    list_filter = ("status", "entity")
    list_select_related = ("system",)


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(ReadOnlyAdmin):
    list_display = ("url", "system", "is_active", "updated_at")
    list_filter = ("is_active", "system")
    exclude = ("secret",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields if f.name != "secret"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("event", "subscription", "status", "attempts", "last_status_code", "created_at")
    list_filter = ("status", "event")
    show_full_result_count = False


@admin.register(OutboundMessage)
class OutboundMessageAdmin(ReadOnlyAdmin):
    list_display = ("title", "endpoint", "event", "status", "attempts", "created_at")
    list_filter = ("status", "event")
    show_full_result_count = False
