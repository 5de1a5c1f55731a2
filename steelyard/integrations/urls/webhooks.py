"""Webhook pages for administrators, mounted at /integrations/webhooks/."""

from __future__ import annotations

from django.urls import path

from steelyard.integrations.views import webhooks as views

urlpatterns = [
    path("", views.webhook_list, name="webhook_list"),
    path("new/", views.webhook_create, name="webhook_create"),
    path("<int:pk>/", views.webhook_detail, name="webhook_detail"),
    path("<int:pk>/edit/", views.webhook_edit, name="webhook_edit"),
    path("<int:pk>/rotate-secret/", views.webhook_rotate, name="webhook_rotate"),
    path("<int:pk>/test/", views.webhook_test, name="webhook_test"),
    path("<int:pk>/active/", views.webhook_set_active, name="webhook_set_active"),
    path("deliveries/", views.webhook_delivery_list, name="webhook_delivery_list"),
    path("deliveries/<int:pk>/", views.webhook_delivery_detail, name="webhook_delivery_detail"),
    path("deliveries/<int:pk>/replay/", views.webhook_delivery_replay, name="webhook_delivery_replay"),
]
