from __future__ import annotations

from django.urls import path

from steelyard.org import views

urlpatterns = [
    path("me/", views.profile, name="profile"),
]
