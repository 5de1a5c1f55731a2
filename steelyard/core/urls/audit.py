"""The audit log, mounted at /audit/ (read-only)."""

from __future__ import annotations

from django.urls import path

from steelyard.core.views import audit

urlpatterns = [path("", audit.audit_log, name="audit_list")]
