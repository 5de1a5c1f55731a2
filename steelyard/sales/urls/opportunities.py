"""Routes of the opportunities area."""

from __future__ import annotations

urlpatterns: list = []
