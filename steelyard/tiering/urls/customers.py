"""Tier screens for reps and managers (mounted at /tiers/)."""

from __future__ import annotations

from django.urls import path

from steelyard.tiering.views import customers as views

urlpatterns = [
    path("", views.my_customers, name="tier_my_customers"),
    path("customers/<int:pk>/override/", views.override_request, name="tier_override_request"),
    path("customers/<int:pk>/entered-values/", views.entered_values_edit, name="tier_entered_values"),
    path("overrides/<int:pk>/cancel/", views.override_cancel, name="tier_override_cancel"),
    path("reviews/", views.reviews, name="tier_reviews"),
    path("reviews/<int:pk>/", views.review_detail, name="tier_review_detail"),
]
