"""Tiering analytics routes."""

from __future__ import annotations

urlpatterns: list = []
