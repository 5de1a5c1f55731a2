"""The daily job that ends expired tier overrides (imported from ``registrations/overrides.py``)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from steelyard.core.periodic import periodic
from steelyard.tiering.services.overrides import overrides_expire

EXPIRY_JOB = "tiering.override_expiry"


@periodic(
    EXPIRY_JOB,
    cron="10 0 * * *",
    description=_("Tier overrides: end those past their expiry and put the assessed tier back."),
)
def override_expiry_job() -> dict[str, int]:
    return overrides_expire()
