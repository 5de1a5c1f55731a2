"""Customer-message routes (mounted at /integrations/messages/)."""

from __future__ import annotations

from django.urls import path

from steelyard.integrations.views import messages as views

urlpatterns = [
    path("", views.message_list, name="message_list"),
    path("<int:pk>/", views.message_detail, name="message_detail"),
    path("<int:pk>/retry/", views.message_retry, name="message_retry"),
    path("customers/<int:customer_pk>/endpoints/new/", views.endpoint_create, name="endpoint_create"),
    path("endpoints/<int:pk>/edit/", views.endpoint_edit, name="endpoint_edit"),
    path("endpoints/<int:pk>/deactivate/", views.endpoint_deactivate, name="endpoint_deactivate"),
    path("endpoints/<int:pk>/test/", views.endpoint_test, name="endpoint_test"),
    path("templates/", views.template_list, name="message_template_list"),
    path("templates/<int:pk>/reset/", views.template_reset, name="message_template_reset"),
    path("templates/<str:event>/<str:language>/", views.template_edit, name="message_template_edit"),
]
