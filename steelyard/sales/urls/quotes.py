"""Routes of the quotes area."""

from __future__ import annotations

urlpatterns: list = []
