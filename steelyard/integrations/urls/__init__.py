"""Integration routes, one module per area, composed here (mounted at /integrations/)."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("", include("steelyard.integrations.urls.systems")),
    path("inbound/", include("steelyard.integrations.urls.inbound")),
    path("imports/", include("steelyard.integrations.urls.imports")),
    path("webhooks/", include("steelyard.integrations.urls.webhooks")),
    path("messages/", include("steelyard.integrations.urls.messages")),
]
