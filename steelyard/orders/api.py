"""The order-to-cash API (mounted at /api/v1/orders/)."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["orders"])
