"""The tiering API (mounted at /api/v1/tiers/), one router per area."""

from __future__ import annotations

from ninja import Router

from steelyard.tiering.api import analytics, customers, models_admin, strategy

router = Router(tags=["tiers"])
router.add_router("/models", models_admin.router)
router.add_router("/strategy", strategy.router)
router.add_router("/analytics", analytics.router)
router.add_router("", customers.router)
