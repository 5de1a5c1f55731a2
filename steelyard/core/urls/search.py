from __future__ import annotations

from django.urls import path

from steelyard.core.views import search

urlpatterns = [path("", search.search, name="search")]
