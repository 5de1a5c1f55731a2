"""Integration inbound routes."""

from __future__ import annotations

urlpatterns: list = []
