"""Tiering models_admin routes."""

from __future__ import annotations

urlpatterns: list = []
