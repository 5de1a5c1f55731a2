"""Periodic jobs of the sales module (each also ``manage.py run_periodic NAME``).

- ``sales.risks_refresh`` (daily, 01:30): recompute every open opportunity's risk flags — stalled and
  close date passed depend on the calendar, not only on writes (``services.risks.risks_refresh``).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from steelyard.core.periodic import periodic
from steelyard.sales.services.risks import risks_refresh

RISKS_JOB = "sales.risks_refresh"


@periodic(
    RISKS_JOB,
    cron="30 1 * * *",
    description=_(
        "Sales: recompute the risk flags of every open opportunity (stalled, close date passed...)."
    ),
)
def risks_refresh_job() -> dict[str, int]:
    return {"changed": risks_refresh()}
