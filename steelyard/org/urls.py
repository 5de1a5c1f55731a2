"""Organisation pages, mounted at /org/."""

from __future__ import annotations

from django.urls import path

from steelyard.org import views

urlpatterns = [
    path("me/", views.profile, name="profile"),
    path("units/", views.unit_list, name="org_unit_list"),
    path("units/new/", views.unit_create, name="org_unit_create"),
    path("units/<int:pk>/edit/", views.unit_edit, name="org_unit_edit"),
    path("units/<int:pk>/active/", views.unit_set_active, name="org_unit_set_active"),
    path("users/", views.user_list, name="org_user_list"),
    path("users/new/", views.user_create, name="org_user_create"),
    path("users/<int:pk>/", views.user_detail, name="org_user_detail"),
    path("users/<int:pk>/edit/", views.user_edit, name="org_user_edit"),
    path("users/<int:pk>/active/", views.user_set_active, name="org_user_set_active"),
    path("users/<int:pk>/password/", views.user_password, name="org_user_password"),
    path(
        "users/<int:pk>/qualifications/new/",
        views.user_qualification_grant,
        name="org_user_qualification_grant",
    ),
    path(
        "users/<int:pk>/qualifications/<int:uq_pk>/revoke/",
        views.user_qualification_revoke,
        name="org_user_qualification_revoke",
    ),
    path("users/<int:pk>/positions/new/", views.user_position_assign, name="org_user_position_assign"),
    path(
        "users/<int:pk>/positions/<int:assignment_pk>/remove/",
        views.user_position_unassign,
        name="org_user_position_unassign",
    ),
    path("roles/", views.role_list, name="org_role_list"),
    path("roles/new/", views.role_create, name="org_role_create"),
    path("roles/<int:pk>/edit/", views.role_edit, name="org_role_edit"),
    path("roles/<int:pk>/delete/", views.role_delete, name="org_role_delete"),
    path("positions/", views.position_list, name="org_position_list"),
    path("positions/new/", views.position_create, name="org_position_create"),
    path("positions/<int:pk>/edit/", views.position_edit, name="org_position_edit"),
    path("qualifications/new/", views.qualification_create, name="org_qualification_create"),
    path("qualifications/<int:pk>/edit/", views.qualification_edit, name="org_qualification_edit"),
]
