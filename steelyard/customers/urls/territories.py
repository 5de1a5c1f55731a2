"""Territory and reassignment routes, mounted at /customers/territories/."""

from __future__ import annotations

from django.urls import path

from steelyard.customers.views import territories as views

urlpatterns = [
    path("", views.territory_list, name="territory_list"),
    path("new/", views.territory_create, name="territory_create"),
    path("<int:pk>/edit/", views.territory_edit, name="territory_edit"),
    path("<int:pk>/active/", views.territory_set_active, name="territory_set_active"),
    path("reassign/", views.reassign_bulk, name="reassign_bulk"),
    path("reassign/customer/<int:pk>/", views.customer_reassign, name="customer_reassign"),
]
