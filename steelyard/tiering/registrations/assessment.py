"""What the tier assessment adds to the shell: its domain event and its jobs.

- ``tiering.assessed``: published once per assessment run (not per customer), with the run id, the
  model code, the day, the counts and the migration matrix — for webhooks and other modules.
- The jobs in ``steelyard.tiering.tasks`` (the weekly ``tiering.assess`` and the on-demand
  ``assess_model``) register when that module is imported, here as well as by the task autodiscovery.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from steelyard.core.events import declare
from steelyard.tiering import tasks  # noqa: F401  (registers the periodic job)

declare(
    "tiering.assessed",
    _("Customer tiers assessed"),
    _("An assessment run placed every customer in a tier; carries the counts and the tier migration."),
)
