"""Routes of the framework agreements (mounted at /sales/agreements/)."""

from __future__ import annotations

from django.urls import path

from steelyard.sales.views import agreements as views

urlpatterns = [
    path("", views.agreement_list, name="sales_agreement_list"),
    path("export.csv", views.agreement_export, name="sales_agreement_export"),
    path("new/", views.agreement_create, name="sales_agreement_create"),
    path("<int:pk>/", views.agreement_detail, name="sales_agreement_detail"),
    path("<int:pk>/edit/", views.agreement_edit, name="sales_agreement_edit"),
    path("<int:pk>/plan/", views.agreement_plan, name="sales_agreement_plan"),
    path("<int:pk>/activate/", views.agreement_activate, name="sales_agreement_activate"),
    path("<int:pk>/end/", views.agreement_end, name="sales_agreement_end"),
]
