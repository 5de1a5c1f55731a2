"""Background and periodic jobs of outbound webhooks.

``webhook_send`` is enqueued after a transaction that wrote deliveries commits; the periodic job
``integrations.webhook_retries`` (every minute) sends whatever is due: retries after their backoff,
and any delivery whose job was lost (a worker that died, a queue that was down).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from steelyard.core.periodic import periodic
from steelyard.core.tasks import job_progress, task
from steelyard.integrations.services.webhooks import webhook_due_ids, webhook_send_many

RETRY_JOB = "integrations.webhook_retries"
RETRY_BATCH = 1000


@task
def webhook_send(*, delivery_ids: list[int]) -> dict[str, Any]:
    """Send the given deliveries (each one only if it is still due and not taken by another worker)."""
    return webhook_send_many(delivery_ids, progress=job_progress)


@periodic(
    RETRY_JOB,
    cron="* * * * *",
    description=_("Webhooks: send the deliveries that are due (first tries and retries)."),
)
def webhook_retries() -> dict[str, Any]:
    ids = webhook_due_ids(limit=RETRY_BATCH)
    return webhook_send_many(ids, progress=job_progress)
