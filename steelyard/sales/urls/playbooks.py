"""Routes of the playbooks area (mounted at /sales/playbooks/)."""

from __future__ import annotations

from django.urls import path

from steelyard.sales.views import playbooks as views

urlpatterns = [
    path("", views.playbook_list, name="sales_playbook_list"),
    path("new/", views.playbook_create, name="sales_playbook_create"),
    path("<int:pk>/", views.playbook_detail, name="sales_playbook_detail"),
    path("<int:pk>/edit/", views.playbook_edit, name="sales_playbook_edit"),
    path("<int:pk>/delete/", views.playbook_delete, name="sales_playbook_delete"),
    path("<int:pk>/copy/", views.playbook_copy, name="sales_playbook_copy"),
    path("<int:pk>/activate/", views.playbook_activate, name="sales_playbook_activate"),
    path("<int:pk>/migrate/", views.playbook_migrate, name="sales_playbook_migrate"),
    path("<int:pk>/stages/new/", views.stage_add, name="sales_playbook_stage_add"),
    path("<int:pk>/stages/<int:stage_pk>/", views.stage_edit, name="sales_playbook_stage_edit"),
    path("<int:pk>/stages/<int:stage_pk>/delete/", views.stage_delete, name="sales_playbook_stage_delete"),
    path("<int:pk>/stages/<int:stage_pk>/move/", views.stage_move, name="sales_playbook_stage_move"),
    path("<int:pk>/stages/<int:stage_pk>/items/new/", views.item_add, name="sales_playbook_item_add"),
    path("<int:pk>/items/<int:item_pk>/", views.item_edit, name="sales_playbook_item_edit"),
    path("<int:pk>/items/<int:item_pk>/delete/", views.item_delete, name="sales_playbook_item_delete"),
    path("<int:pk>/items/<int:item_pk>/move/", views.item_move, name="sales_playbook_item_move"),
]
