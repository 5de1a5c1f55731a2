"""Customer import routes, mounted at /customers/import/."""

from __future__ import annotations

from django.urls import path

from steelyard.customers.views import imports as views

urlpatterns = [
    path("", views.import_upload, name="customer_import"),
    path("template.xlsx", views.import_template, name="customer_import_template"),
    path("<str:token>/", views.import_preview, name="customer_import_preview"),
    path("<str:token>/report.csv", views.import_report, name="customer_import_report"),
    path("<str:token>/commit/", views.import_commit, name="customer_import_commit"),
]
