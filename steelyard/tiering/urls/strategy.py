"""Tiering strategy routes."""

from __future__ import annotations

urlpatterns: list = []
