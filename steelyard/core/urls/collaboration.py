"""Comments and files on any scoped record: ``/records/<app_label>.<model_name>/<pk>/...``."""

from __future__ import annotations

from django.urls import path

from steelyard.core.views import collaboration as views

urlpatterns = [
    path("<str:label>/<str:pk>/", views.record_collab, name="record_collab"),
    path("<str:label>/<str:pk>/comments/", views.record_comments, name="record_comments"),
    path(
        "<str:label>/<str:pk>/comments/<str:comment_id>/delete/",
        views.record_comment_delete,
        name="record_comment_delete",
    ),
    path("<str:label>/<str:pk>/attachments/", views.record_attachments, name="record_attachments"),
    path(
        "<str:label>/<str:pk>/attachments/<str:attachment_id>/",
        views.attachment_download,
        name="attachment_download",
    ),
    path(
        "<str:label>/<str:pk>/attachments/<str:attachment_id>/delete/",
        views.record_attachment_delete,
        name="record_attachment_delete",
    ),
]
