"""The sales API (mounted at /api/v1/sales/), one router per area."""

from __future__ import annotations

from ninja import Router

from steelyard.sales.api import forecast, opportunities, pipeline, playbooks, quotes

router = Router(tags=["sales"])
router.add_router("/playbooks", playbooks.router)
router.add_router("/quotes", quotes.router)
router.add_router("/pipeline", pipeline.router)
router.add_router("/forecast", forecast.router)
router.add_router("/opportunities", opportunities.router)
