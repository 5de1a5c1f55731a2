"""Routes of the pipeline area."""

from __future__ import annotations

urlpatterns: list = []
