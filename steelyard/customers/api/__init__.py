"""The customers API (mounted at /api/v1/customers/), one router per area."""

from __future__ import annotations

from ninja import Router

from steelyard.customers.api import activities, customers, imports, pool, territories

router = Router(tags=["customers"])
router.add_router("/territories", territories.router)
router.add_router("/pool", pool.router)
router.add_router("/activities", activities.router)
router.add_router("/import", imports.router)
router.add_router("", customers.router)
