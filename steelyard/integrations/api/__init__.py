"""The integrations API (mounted at /api/v1/integrations/), one router per area."""

from __future__ import annotations

from ninja import Router

from steelyard.integrations.api import imports, inbound, messages, systems, webhooks

router = Router(tags=["integrations"])
router.add_router("/inbound", inbound.router)
router.add_router("/imports", imports.router)
router.add_router("/webhooks", webhooks.router)
router.add_router("/messages", messages.router)
router.add_router("/systems", systems.router)
