"""Routes of the playbooks area."""

from __future__ import annotations

urlpatterns: list = []
