"""The integration console (mounted at /integrations/): home, systems and their tokens, inbound batches."""

from __future__ import annotations

from django.urls import path

from steelyard.integrations.views import systems as views

urlpatterns = [
    path("", views.console_home, name="integrations_console"),
    path("systems/", views.system_list, name="integrations_system_list"),
    path("systems/new/", views.system_create, name="integrations_system_create"),
    path("systems/<int:pk>/", views.system_detail, name="integrations_system_detail"),
    path("systems/<int:pk>/edit/", views.system_edit, name="integrations_system_edit"),
    path("systems/<int:pk>/active/", views.system_set_active, name="integrations_system_set_active"),
    path("systems/<int:pk>/tokens/", views.system_token_create, name="integrations_system_token_create"),
    path(
        "systems/<int:pk>/tokens/<int:token_pk>/revoke/",
        views.system_token_revoke,
        name="integrations_system_token_revoke",
    ),
    path("batches/", views.batch_list, name="integrations_batch_list"),
    path("batches/<int:pk>/", views.batch_detail, name="integrations_batch_detail"),
]
