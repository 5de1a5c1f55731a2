"""Background work for customer messages: send a batch now, and pick up what is due every few minutes.

Imported from ``registrations/messages.py`` so the periodic job registers with the app.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from steelyard.core.periodic import periodic
from steelyard.core.tasks import job_progress, task
from steelyard.integrations.selectors.messages import messages_due
from steelyard.integrations.services.messages import message_deliver

RETRY_JOB = "integrations.messages_retry"


def _deliver_all(ids: list[int]) -> dict[str, int]:
    counts: dict[str, int] = {}
    total = len(ids)
    for i, pk in enumerate(ids, start=1):
        outcome = message_deliver(message_id=int(pk)) or "skipped"
        counts[outcome] = counts.get(outcome, 0) + 1
        job_progress(i, total)
    return counts


@task
def messages_send(message_ids: list[int]) -> dict[str, int]:
    """Send the messages just written for an event (those already sent or not yet due are skipped)."""
    return _deliver_all([int(pk) for pk in message_ids])


@periodic(
    RETRY_JOB,
    cron="*/5 * * * *",
    description=_("Send customer messages that are due: first tries that were missed, and retries."),
)
def messages_retry() -> dict[str, int]:
    return _deliver_all(messages_due())
