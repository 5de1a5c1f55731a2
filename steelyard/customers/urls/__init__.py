"""Customer routes, one module per area, composed here (mounted at /customers/)."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("", include("steelyard.customers.urls.customers")),
    path("territories/", include("steelyard.customers.urls.territories")),
    path("pool/", include("steelyard.customers.urls.pool")),
    path("activities/", include("steelyard.customers.urls.activities")),
    path("import/", include("steelyard.customers.urls.imports")),
]
