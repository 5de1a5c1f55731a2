"""Background and periodic jobs of the org module (the one place they are declared)."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from steelyard.core.periodic import periodic
from steelyard.org.models import User, UserQualification

REMINDER_DAYS = (30, 7, 1)
REMINDER_EVENT = "org.qualification_expiring"


def reminder_event(day: dt.date) -> str:
    """The notification event of one day's reminders; it makes a second run that day a no-op."""
    return f"{REMINDER_EVENT}.{day.isoformat()}"


def _manager_of(user: User) -> User | None:
    if user.manager_id:
        return user.manager
    unit = user.org_unit
    unit_manager = unit.manager if unit is not None else None
    return unit_manager if unit_manager is not None and unit_manager.pk != user.pk else None


# Each text is rendered per recipient, in their own language, by ``notify``.
def _holder_title(p: dict[str, Any]) -> str:
    return (
        ngettext(
            "Your qualification %(name)s expires in %(days)s day",
            "Your qualification %(name)s expires in %(days)s days",
            p["days"],
        )
        % p
    )


def _holder_body(p: dict[str, Any]) -> str:
    return gettext("It expires on %(date)s. Plan the renewal in time.") % p


def _manager_title(p: dict[str, Any]) -> str:
    return (
        ngettext(
            "%(person)s's qualification %(name)s expires in %(days)s day",
            "%(person)s's qualification %(name)s expires in %(days)s days",
            p["days"],
        )
        % p
    )


def _manager_body(p: dict[str, Any]) -> str:
    return gettext("It expires on %(date)s.") % p


@periodic(
    "org.qualification_expiry_reminders",
    cron="0 8 * * *",
    description=_("Remind people (and their managers) of qualifications expiring in 30, 7 or 1 days."),
)
def qualification_expiry_reminders() -> dict[str, Any]:
    """Notify each holder of a qualification expiring in exactly 30, 7 or 1 days, and their manager.

    Idempotent per day: each notification carries the day's event and the qualification as
    its subject, and a recipient who already has that pair is skipped.
    """
    from steelyard.core.models import Notification
    from steelyard.core.services.notifications import notify

    today = timezone.localdate()
    event = reminder_event(today)
    targets = list(
        UserQualification.objects.filter(
            expires_on__in=[today + dt.timedelta(days=d) for d in REMINDER_DAYS], user__is_active=True
        )
        .select_related("user__manager", "user__org_unit__manager", "qualification")
        .order_by("expires_on", "pk")
    )
    content_type = ContentType.objects.get_for_model(UserQualification)
    already = set(
        Notification.objects.filter(
            event=event, content_type=content_type, object_id__in=[str(t.pk) for t in targets]
        ).values_list("object_id", "recipient_id")
    )
    sent = 0
    for uq in targets:
        if uq.expires_on is None:  # excluded by the filter; keeps the type checker honest
            continue
        days = (uq.expires_on - today).days
        holder, manager = uq.user, _manager_of(uq.user)
        params = {
            "name": uq.qualification.name,
            "person": str(holder),
            "days": days,
            "date": uq.expires_on.isoformat(),
        }
        if (str(uq.pk), holder.pk) not in already:
            sent += len(
                notify(
                    recipients=[holder],
                    title=partial(_holder_title, params),
                    body=partial(_holder_body, params),
                    subject=uq,
                    url=reverse("profile"),
                    event=event,
                )
            )
        if manager is not None and (str(uq.pk), manager.pk) not in already:
            sent += len(
                notify(
                    recipients=[manager],
                    title=partial(_manager_title, params),
                    body=partial(_manager_body, params),
                    subject=uq,
                    event=event,
                )
            )
    return {"qualifications": len(targets), "notified": sent}
