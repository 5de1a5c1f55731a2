from __future__ import annotations

from django.urls import path

from steelyard.core.views import tokens

urlpatterns = [
    path("", tokens.token_list, name="token_list"),
    path("new/", tokens.token_create, name="token_create"),
    path("<int:pk>/revoke/", tokens.token_revoke, name="token_revoke"),
]
