from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from steelyard.api import api
from steelyard.core import access
from steelyard.core.views import errors

urlpatterns = [
    path("", include("steelyard.core.urls")),
    path("org/", include("steelyard.org.urls")),
    path("customers/", include("steelyard.customers.urls")),
    path("catalog/", include("steelyard.catalog.urls")),
    path("orders/", include("steelyard.orders.urls")),
    path("integrations/", include("steelyard.integrations.urls")),
    path("tiers/", include("steelyard.tiering.urls")),
    path("sales/", include("steelyard.sales.urls")),
    path("track/", include("steelyard.integrations.urls.status")),
    path(
        "api/v1/",
        include((access.mark_patterns(api.urls[0], access.API), api.urls[1]), namespace=api.urls[2]),
    ),
    path(
        "django-admin/",
        include((access.mark_patterns(admin.site.urls[0], access.ADMIN_SITE), "admin"), namespace="admin"),
    ),
]

handler400 = errors.bad_request
handler403 = errors.permission_denied
handler404 = errors.page_not_found
handler500 = errors.server_error
