"""Background jobs: ``/jobs/``."""

from __future__ import annotations

from django.urls import path

from steelyard.core.views import jobs as views

urlpatterns = [
    path("", views.job_list_view, name="job_list"),
    path("audit-export/", views.audit_export, name="job_audit_export"),
    path("<uuid:pk>/", views.job_detail, name="job_detail"),
    path("<uuid:pk>/status/", views.job_status, name="job_status"),
    path("<uuid:pk>/download/", views.job_download, name="job_download"),
]
