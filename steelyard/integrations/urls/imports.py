"""File import routes, mounted at /integrations/imports/."""

from __future__ import annotations

from django.urls import path

from steelyard.integrations.views import imports as views

urlpatterns = [
    path("", views.import_list, name="integrations_import_list"),
    path("new/", views.import_new, name="integrations_import_new"),
    path("blank/<slug:entity>.<str:fmt>", views.import_blank, name="integrations_import_blank"),
    path("templates/", views.template_list, name="integrations_import_templates"),
    path("templates/<int:pk>/delete/", views.template_delete, name="integrations_import_template_delete"),
    path("<int:pk>/", views.import_detail, name="integrations_import_detail"),
    path("<int:pk>/status/", views.import_status, name="integrations_import_status"),
    path("<int:pk>/mapping/", views.import_mapping, name="integrations_import_mapping"),
    path("<int:pk>/check/", views.import_check, name="integrations_import_check"),
    path("<int:pk>/run/", views.import_run, name="integrations_import_run"),
    path("<int:pk>/again/", views.import_rerun, name="integrations_import_rerun"),
    path("<int:pk>/errors.csv", views.import_report, name="integrations_import_report"),
]
