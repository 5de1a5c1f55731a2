"""Order-to-cash routes (mounted at /orders/)."""

from __future__ import annotations

urlpatterns: list = []
