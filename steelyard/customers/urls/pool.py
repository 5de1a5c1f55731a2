"""Pool routes (mounted at /customers/pool/)."""

from __future__ import annotations

from django.urls import path

from steelyard.customers.views import pool as views

urlpatterns = [
    path("", views.pool_list, name="pool_list"),
    path("<int:pk>/claim/", views.pool_claim, name="pool_claim"),
    path("customer/<int:pk>/release/", views.pool_customer_release, name="pool_customer_release"),
    path("customer/<int:pk>/lock/", views.pool_customer_lock, name="pool_customer_lock"),
    path("new/", views.pool_create, name="pool_create"),
    path("<int:pk>/deactivate/", views.pool_deactivate, name="pool_deactivate"),
    path("<int:pk>/settings/", views.pool_settings, name="pool_settings"),
    path("sweep/", views.pool_sweep_now, name="pool_sweep_now"),
]
