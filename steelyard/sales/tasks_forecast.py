"""The forecast's periodic job (imported from ``registrations/forecast.py``).

- ``sales.forecast_snapshot`` (Mondays 06:00, local time): the weekly snapshot of the forecast cells
  (``services.forecast.forecast_snapshot_take``); running it again in the same week changes nothing.
  Also ``manage.py run_periodic sales.forecast_snapshot``.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from steelyard.core.periodic import periodic
from steelyard.sales.services.forecast import forecast_snapshot_take

SNAPSHOT_JOB = "sales.forecast_snapshot"


@periodic(
    SNAPSHOT_JOB,
    cron="0 6 * * 1",
    description=_("Forecast: take the weekly snapshot of the forecast (for accuracy and movement)."),
)
def forecast_snapshot_job() -> dict[str, Any]:
    snapshot = forecast_snapshot_take(actor=None, weekly=True)
    return {"snapshot": snapshot.pk, "week": snapshot.week.isoformat(), "rows": snapshot.rows_count}
