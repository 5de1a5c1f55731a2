"""Customer pages, mounted at /customers/."""

from __future__ import annotations

from django.urls import path

from steelyard.customers.views import customers as views

urlpatterns = [
    path("", views.customer_list, name="customer_list"),
    path("new/", views.customer_create, name="customer_create"),
    path("export.csv", views.customer_export_csv, name="customer_export_csv"),
    path("export.xlsx", views.customer_export_xlsx, name="customer_export_xlsx"),
    path("views/", views.saved_view_create, name="customer_view_create"),
    path("views/<int:pk>/delete/", views.saved_view_delete, name="customer_view_delete"),
    path("<int:pk>/", views.customer_detail, name="customer_detail"),
    path("<int:pk>/edit/", views.customer_edit, name="customer_edit"),
    path("<int:pk>/merge/", views.customer_merge, name="customer_merge"),
    path("<int:pk>/contacts/new/", views.contact_create, name="customer_contact_create"),
    path("<int:pk>/contacts/<int:contact_pk>/edit/", views.contact_edit, name="customer_contact_edit"),
    path("<int:pk>/contacts/<int:contact_pk>/delete/", views.contact_delete, name="customer_contact_delete"),
]
