"""Routes of the opportunities area (mounted at /sales/)."""

from __future__ import annotations

from django.urls import path

from steelyard.sales.views import opportunities as views

urlpatterns = [
    path("", views.opportunity_list, name="sales_opportunity_list"),
    path("export.csv", views.opportunity_export, name="sales_opportunity_export"),
    path("new/", views.opportunity_new, name="sales_opportunity_new"),
    path("<int:pk>/", views.opportunity_detail, name="sales_opportunity_detail"),
    path("<int:pk>/edit/", views.opportunity_edit, name="sales_opportunity_edit"),
    path("<int:pk>/lines/", views.opportunity_lines, name="sales_opportunity_lines"),
    path(
        "<int:pk>/checklist/<int:item_id>/", views.opportunity_checklist, name="sales_opportunity_checklist"
    ),
    path("<int:pk>/move/", views.opportunity_move, name="sales_opportunity_move"),
    path("<int:pk>/close/", views.opportunity_close, name="sales_opportunity_close"),
    path("<int:pk>/reopen/", views.opportunity_reopen, name="sales_opportunity_reopen"),
    path("<int:pk>/competitors/", views.opportunity_competitor_set, name="sales_opportunity_competitor_set"),
    path(
        "<int:pk>/competitors/<int:competitor_id>/remove/",
        views.opportunity_competitor_remove,
        name="sales_opportunity_competitor_remove",
    ),
    path("<int:pk>/contacts/", views.opportunity_contact_set, name="sales_opportunity_contact_set"),
    path(
        "<int:pk>/contacts/<int:contact_id>/remove/",
        views.opportunity_contact_remove,
        name="sales_opportunity_contact_remove",
    ),
    path("<int:pk>/members/", views.opportunity_member_add, name="sales_opportunity_member_add"),
    path(
        "<int:pk>/members/<int:member_id>/remove/",
        views.opportunity_member_remove,
        name="sales_opportunity_member_remove",
    ),
]
