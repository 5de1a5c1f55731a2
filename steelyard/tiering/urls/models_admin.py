"""Tier-model pages, mounted at /tiers/models/."""

from __future__ import annotations

from django.urls import path

from steelyard.tiering.views import models_admin as views

urlpatterns = [
    path("", views.tier_model_list, name="tier_model_list"),
    path("new/", views.tier_model_create, name="tier_model_create"),
    path("new/preview/", views.tier_model_preview_new, name="tier_model_preview_new"),
    path("<int:pk>/", views.tier_model_edit, name="tier_model_edit"),
    path("<int:pk>/preview/", views.tier_model_preview, name="tier_model_preview"),
    path("<int:pk>/activate/", views.tier_model_activate, name="tier_model_activate"),
    path("<int:pk>/deactivate/", views.tier_model_deactivate, name="tier_model_deactivate"),
    path("<int:pk>/delete/", views.tier_model_delete, name="tier_model_delete"),
    path("<int:pk>/copy/", views.tier_model_copy, name="tier_model_copy"),
    path("<int:pk>/run/", views.tier_model_run, name="tier_model_run"),
    path("runs/", views.tier_run_list, name="tier_run_list"),
    path("runs/<int:pk>/", views.tier_run_detail, name="tier_run_detail"),
    path("runs/<int:pk>/customers/", views.tier_run_customers, name="tier_run_customers"),
]
