"""Customer order status page (public, signed link; mounted at /track/)."""

from __future__ import annotations

from django.urls import path

from steelyard.integrations.views import status as views

urlpatterns = [
    path("<str:token>/", views.order_status_page, name="order_status_page"),
]
