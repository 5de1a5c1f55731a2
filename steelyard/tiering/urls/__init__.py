"""Tiering routes, one module per area (mounted at /tiers/)."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("", include("steelyard.tiering.urls.customers")),
    path("models/", include("steelyard.tiering.urls.models_admin")),
    path("strategy/", include("steelyard.tiering.urls.strategy")),
    path("analytics/", include("steelyard.tiering.urls.analytics")),
]
