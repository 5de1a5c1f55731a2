from __future__ import annotations

from django.urls import path

from steelyard.core.views import notifications

urlpatterns = [
    path("", notifications.inbox, name="inbox"),
    path("badge/", notifications.inbox_badge, name="inbox_badge"),
    path("read-all/", notifications.inbox_mark_all_read, name="inbox_mark_all_read"),
    path("<int:pk>/open/", notifications.inbox_open, name="inbox_open"),
    path("<int:pk>/read/", notifications.inbox_mark_read, name="inbox_mark_read"),
]
