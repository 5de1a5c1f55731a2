"""API of the forecast area."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["sales"])
