from __future__ import annotations

from django.urls import path

from steelyard.core.views import notifications

urlpatterns = [
    path("", notifications.inbox, name="inbox"),
    path("badge/", notifications.inbox_badge, name="inbox_badge"),
]
