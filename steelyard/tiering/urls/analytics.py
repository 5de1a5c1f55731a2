"""Tier analytics pages, mounted at /tiers/analytics/."""

from __future__ import annotations

from django.urls import path

from steelyard.tiering.views import analytics as views

urlpatterns = [
    path("", views.tier_analytics, name="tier_analytics"),
    path("customers/", views.tier_analytics_customers, name="tier_analytics_customers"),
]
