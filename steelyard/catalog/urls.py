"""Catalogue routes (mounted at /catalog/)."""

from __future__ import annotations

urlpatterns: list = []
