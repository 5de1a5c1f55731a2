from __future__ import annotations

from django.urls import path

from steelyard.core.views import approvals

urlpatterns = [
    path("", approvals.approval_list, name="approval_list"),
    path("<int:pk>/", approvals.approval_detail, name="approval_detail"),
    path("<int:pk>/decide/", approvals.approval_decide, name="approval_decide"),
    path("<int:pk>/comment/", approvals.approval_comment, name="approval_comment"),
    path("<int:pk>/cancel/", approvals.approval_cancel, name="approval_cancel"),
    path("request-role/", approvals.approval_role_request, name="approval_role_request"),
    path("routes/", approvals.approval_route_list, name="approval_route_list"),
    path("routes/<str:kind>/", approvals.approval_route_edit, name="approval_route_edit"),
]
