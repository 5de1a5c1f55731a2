"""Background and periodic jobs of the customers module."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from steelyard.core.periodic import periodic
from steelyard.customers.services.pool import pool_rearm, pool_sweep, pool_warn

POOL_SWEEP_JOB = "customers.pool_sweep"


@periodic(
    POOL_SWEEP_JOB,
    cron="30 1 * * *",
    description=_("Public pool: warn about customers returning soon, then return the due ones."),
)
def pool_sweep_job() -> dict[str, Any]:
    """The nightly pool run: bring the strategy menu's pool days in (a version starting today), re-arm
    ended exclusions, send warnings, then sweep (progress per chunk)."""
    from steelyard.tiering.services.strategy import strategy_menus_roll

    menus = strategy_menus_roll()
    rearmed = pool_rearm()
    warned = pool_warn()
    swept = pool_sweep()
    return {**menus, **rearmed, **warned, **swept}
