"""Sales routes, one module per area (mounted at /sales/)."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("", include("steelyard.sales.urls.opportunities")),
    path("playbooks/", include("steelyard.sales.urls.playbooks")),
    path("quotes/", include("steelyard.sales.urls.quotes")),
    path("agreements/", include("steelyard.sales.urls.agreements")),
    path("pipeline/", include("steelyard.sales.urls.pipeline")),
    path("forecast/", include("steelyard.sales.urls.forecast")),
]
