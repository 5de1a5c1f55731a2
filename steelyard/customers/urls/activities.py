"""Visit and activity pages (mounted at /customers/activities/)."""

from __future__ import annotations

from django.urls import path

from steelyard.customers.views import activities as views

urlpatterns = [
    path("", views.activity_list, name="activity_list"),
    path("my-day/", views.my_day, name="my_day"),
    path("overdue/", views.visits_overdue, name="visits_overdue"),
    path("new/", views.activity_create, {"mode": "log"}, name="activity_log"),
    path("plan/", views.activity_create, {"mode": "plan"}, name="activity_plan"),
    path("<int:pk>/", views.activity_detail, name="activity_detail"),
    path("<int:pk>/edit/", views.activity_edit, name="activity_edit"),
    path("<int:pk>/complete/", views.activity_complete, name="activity_complete"),
    path("<int:pk>/cancel/", views.activity_cancel, name="activity_cancel"),
    path("<int:pk>/checkin/", views.activity_checkin, name="activity_checkin"),
]
