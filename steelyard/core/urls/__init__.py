"""Core routes, one module per area, composed here."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("", include("steelyard.core.urls.shell")),
    path("inbox/", include("steelyard.core.urls.notifications")),
    path("search/", include("steelyard.core.urls.search")),
    path("tokens/", include("steelyard.core.urls.tokens")),
    path("approvals/", include("steelyard.core.urls.approvals")),
    path("audit/", include("steelyard.core.urls.audit")),
    path("jobs/", include("steelyard.core.urls.jobs")),
    path("records/", include("steelyard.core.urls.collaboration")),
]
