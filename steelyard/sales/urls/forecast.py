"""Routes of the forecast area."""

from __future__ import annotations

urlpatterns: list = []
