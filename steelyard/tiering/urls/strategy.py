"""Strategy menu screens (mounted at /tiers/strategy/)."""

from __future__ import annotations

from django.urls import path

from steelyard.tiering.views import strategy as views

urlpatterns = [
    path("", views.menu_list, name="tier_strategy_list"),
    path("new/", views.menu_create, name="tier_strategy_create"),
    path("entitlements/", views.entitlements, name="tier_entitlements"),
    path("<int:pk>/", views.menu_detail, name="tier_strategy_detail"),
    path("<int:pk>/edit/", views.menu_edit, name="tier_strategy_edit"),
    path("<int:pk>/delete/", views.menu_delete, name="tier_strategy_delete"),
    path("<int:pk>/activate/", views.menu_activate, name="tier_strategy_activate"),
    path("<int:pk>/rules/new/", views.rule_create, name="tier_strategy_rule_create"),
    path("<int:pk>/rules/<int:rule_pk>/", views.rule_edit, name="tier_strategy_rule_edit"),
    path("<int:pk>/rules/<int:rule_pk>/delete/", views.rule_delete, name="tier_strategy_rule_delete"),
]
