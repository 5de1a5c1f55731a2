"""Writing visits and activities: plan, log, complete, cancel, check in on a phone, edit.

An *activity* is a visit, call, meeting or email note with a customer. It is either planned
(a time in the diary), done (it happened, with an outcome) or cancelled. When an activity
becomes done it moves the customer's pool clock: any done activity counts as a follow-up, a
visit also counts as a visit. The pool service keeps the latest event, so logging an old
activity after a newer one never moves the clock back.

A *check-in* is a rep on site confirming a planned visit from a phone: the time, and the
browser's geolocation when the rep allows it (without it, the time alone is recorded).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from steelyard.core.scopes import CHANGE
from steelyard.core.services.audit import audit_create, audit_update, snapshot
from steelyard.customers.models import Activity, ActivityKind, ActivityStatus, Contact, Customer

if TYPE_CHECKING:
    from steelyard.org.models import User

ERR_CUSTOMER_NOT_VISIBLE = _("You cannot see this customer.")
ERR_ACTIVITY_NOT_EDITABLE = _("Only the activity's owner or their manager can change it.")
ERR_SUBJECT_REQUIRED = _("Give the activity a subject.")
ERR_PLANNED_AT_REQUIRED = _("Say when the activity is planned for.")
ERR_OCCURRED_IN_FUTURE = _("An activity that happened cannot be in the future.")
ERR_OUTCOME_REQUIRED = _("Write down the outcome: what happened and what was agreed.")
ERR_NOT_PLANNED = _("Only a planned activity can be changed this way; this one is %(status)s.")
ERR_REASON_REQUIRED = _("Give a reason for cancelling.")
ERR_CHECKIN_NOT_VISIT = _("Only a visit can be checked in to.")
ERR_ALREADY_CHECKED_IN = _("This visit was already checked in at %(at)s.")
ERR_LAT_RANGE = _("Latitude must be between -90 and 90.")
ERR_LNG_RANGE = _("Longitude must be between -180 and 180.")
ERR_LAT_LNG_PAIR = _("Send both latitude and longitude, or neither.")
ERR_ACCURACY = _("Accuracy must be a whole number of metres, 0 or more.")
ERR_CONTACT_OTHER_CUSTOMER = _("Contact %(name)s does not belong to this customer.")
ERR_PHOTO_TYPE = _("Photos must be images (.jpg, .jpeg, .png or .gif).")

# A phone's clock may run a little ahead of the server's.
CLOCK_SKEW = dt.timedelta(minutes=5)
PHOTO_EXTENSIONS = ("jpg", "jpeg", "png", "gif")
AUDIT_FIELDS = (
    "customer_id",
    "kind",
    "status",
    "subject",
    "purpose",
    "planned_at",
    "occurred_at",
    "outcome",
    "next_step",
    "owner_id",
    "org_unit_id",
    "checkin_at",
    "checkin_lat",
    "checkin_lng",
    "checkin_accuracy_m",
)
EDITABLE_FIELDS = ("subject", "purpose", "planned_at", "occurred_at", "outcome", "next_step", "kind")


# --- checks -----------------------------------------------------------------------------------


def _require_customer(actor: User, customer: Customer) -> None:
    if not Customer.objects.visible_to(actor).filter(pk=customer.pk).exists():
        raise PermissionDenied(ERR_CUSTOMER_NOT_VISIBLE)


def _require_editable(actor: User, activity: Activity) -> None:
    if not Activity.objects.visible_to(actor, CHANGE).filter(pk=activity.pk).exists():
        raise PermissionDenied(ERR_ACTIVITY_NOT_EDITABLE)


def _require_planned(activity: Activity) -> None:
    if activity.status != ActivityStatus.PLANNED:
        raise ValidationError(ERR_NOT_PLANNED, params={"status": activity.get_status_display()})


def _check_not_future(occurred_at: dt.datetime, field: str = "occurred_at") -> None:
    if occurred_at > timezone.now() + CLOCK_SKEW:
        raise ValidationError({field: [ERR_OCCURRED_IN_FUTURE]})


def _check_contacts(customer: Customer, contacts: Iterable[Contact]) -> list[Contact]:
    contacts = list(contacts)
    for c in contacts:
        if c.customer_id != customer.pk:
            raise ValidationError(
                {"contacts": [ValidationError(ERR_CONTACT_OTHER_CUSTOMER, params={"name": c.name})]}
            )
    return contacts


def _check_subject(subject: str) -> str:
    subject = (subject or "").strip()
    if not subject:
        raise ValidationError({"subject": [ERR_SUBJECT_REQUIRED]})
    return subject


# --- the pool clock ------------------------------------------------------------------------------


def _record_clock(activity: Activity) -> None:
    """Tell the pool clock that ``activity`` happened: every activity is a follow-up, a visit is also a visit."""
    # Imported here: the pool service imports the customer models this module also loads at import time.
    from steelyard.customers.services.pool import customer_record_event

    at = activity.occurred_at or timezone.now()
    customer = activity.customer
    customer_record_event(customer=customer, event="followup", at=at)
    if activity.kind == ActivityKind.VISIT:
        customer_record_event(customer=customer, event="visit", at=at)


# --- writes -------------------------------------------------------------------------------------


def _create(
    *,
    actor: User,
    customer: Customer,
    kind: str,
    subject: str,
    status: str,
    participants: Iterable[User],
    contacts: Iterable[Contact],
    **fields: Any,
) -> Activity:
    _require_customer(actor, customer)
    if kind not in ActivityKind.values:
        raise ValidationError({"kind": [_("Unknown activity type.")]})
    contacts = _check_contacts(customer, contacts)
    activity = Activity.objects.create(
        customer=customer,
        kind=kind,
        status=status,
        subject=_check_subject(subject),
        owner=actor,
        org_unit_id=actor.org_unit_id,
        **fields,
    )
    activity.participants.set([u for u in participants if u.pk != actor.pk])
    activity.contacts.set(contacts)
    audit_create(actor=actor, obj=activity, fields=AUDIT_FIELDS)
    return activity


@transaction.atomic
def activity_plan(
    *,
    actor: User,
    customer: Customer,
    kind: str,
    subject: str,
    planned_at: dt.datetime | None,
    purpose: str = "",
    participants: Iterable[User] = (),
    contacts: Iterable[Contact] = (),
) -> Activity:
    """Put a visit, call, meeting or email in the diary for ``planned_at``."""
    if planned_at is None:
        raise ValidationError({"planned_at": [ERR_PLANNED_AT_REQUIRED]})
    return _create(
        actor=actor,
        customer=customer,
        kind=kind,
        subject=subject,
        status=ActivityStatus.PLANNED,
        participants=participants,
        contacts=contacts,
        planned_at=planned_at,
        purpose=purpose or "",
    )


@transaction.atomic
def activity_log(
    *,
    actor: User,
    customer: Customer,
    kind: str,
    subject: str,
    occurred_at: dt.datetime | None = None,
    outcome: str = "",
    next_step: str = "",
    participants: Iterable[User] = (),
    contacts: Iterable[Contact] = (),
    purpose: str = "",
) -> Activity:
    """Record an activity that already happened (done); it moves the customer's pool clock."""
    occurred_at = occurred_at or timezone.now()
    _check_not_future(occurred_at)
    activity = _create(
        actor=actor,
        customer=customer,
        kind=kind,
        subject=subject,
        status=ActivityStatus.DONE,
        participants=participants,
        contacts=contacts,
        occurred_at=occurred_at,
        outcome=outcome or "",
        next_step=next_step or "",
        purpose=purpose or "",
    )
    _record_clock(activity)
    return activity


@transaction.atomic
def activity_complete(
    *,
    actor: User,
    activity: Activity,
    outcome: str,
    next_step: str = "",
    occurred_at: dt.datetime | None = None,
) -> Activity:
    """Mark a planned activity done with its outcome; a checked-in visit happened at its check-in."""
    _require_editable(actor, activity)
    activity = Activity.objects.select_for_update().select_related("customer").get(pk=activity.pk)
    _require_planned(activity)
    outcome = (outcome or "").strip()
    if not outcome:
        raise ValidationError({"outcome": [ERR_OUTCOME_REQUIRED]})
    occurred_at = occurred_at or activity.checkin_at or timezone.now()
    _check_not_future(occurred_at)
    before = snapshot(activity, AUDIT_FIELDS)
    activity.status = ActivityStatus.DONE
    activity.outcome = outcome
    activity.next_step = next_step or ""
    activity.occurred_at = occurred_at
    activity.save()
    audit_update(actor=actor, obj=activity, before=before, verb="complete")
    _record_clock(activity)
    return activity


@transaction.atomic
def activity_cancel(*, actor: User, activity: Activity, reason: str) -> Activity:
    """Call off a planned activity, with the reason (kept as its outcome and in the audit log)."""
    _require_editable(actor, activity)
    activity = Activity.objects.select_for_update().get(pk=activity.pk)
    _require_planned(activity)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [ERR_REASON_REQUIRED]})
    before = snapshot(activity, AUDIT_FIELDS)
    activity.status = ActivityStatus.CANCELLED
    activity.outcome = reason
    activity.save()
    audit_update(actor=actor, obj=activity, before=before, verb="cancel")
    return activity


def _coordinate(value: Any, low: int, high: int, message: Any, field: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationError({field: [message]}) from None
    if not number.is_finite() or not (low <= number <= high):
        raise ValidationError({field: [message]})
    return number.quantize(Decimal("0.000001"))


@transaction.atomic
def activity_checkin(
    *,
    actor: User,
    activity: Activity,
    lat: Any = None,
    lng: Any = None,
    accuracy_m: Any = None,
) -> Activity:
    """Check in to a planned visit now, with the phone's position when the rep allowed it.

    Without a position (permission denied, no GPS) the check-in records the time only.
    """
    _require_editable(actor, activity)
    activity = Activity.objects.select_for_update().get(pk=activity.pk)
    if activity.kind != ActivityKind.VISIT:
        raise ValidationError(ERR_CHECKIN_NOT_VISIT)
    _require_planned(activity)
    if activity.checkin_at is not None:
        raise ValidationError(
            ERR_ALREADY_CHECKED_IN, params={"at": timezone.localtime(activity.checkin_at).strftime("%H:%M")}
        )
    lat_d = _coordinate(lat, -90, 90, ERR_LAT_RANGE, "lat")
    lng_d = _coordinate(lng, -180, 180, ERR_LNG_RANGE, "lng")
    if (lat_d is None) != (lng_d is None):
        raise ValidationError({"lat": [ERR_LAT_LNG_PAIR]})
    accuracy: int | None = None
    if accuracy_m not in (None, "") and lat_d is not None:
        try:
            accuracy = round(float(accuracy_m))
        except (TypeError, ValueError):
            raise ValidationError({"accuracy_m": [ERR_ACCURACY]}) from None
        if accuracy < 0 or accuracy > 10_000_000:
            raise ValidationError({"accuracy_m": [ERR_ACCURACY]})
    before = snapshot(activity, AUDIT_FIELDS)
    now = timezone.now()
    activity.checkin_at = now
    activity.occurred_at = now  # the visit is happening now
    activity.checkin_lat = lat_d
    activity.checkin_lng = lng_d
    activity.checkin_accuracy_m = accuracy
    activity.save()
    audit_update(actor=actor, obj=activity, before=before, verb="checkin")
    return activity


@transaction.atomic
def activity_update(
    *,
    actor: User,
    activity: Activity,
    participants: Iterable[User] | None = None,
    contacts: Iterable[Contact] | None = None,
    **fields: Any,
) -> Activity:
    """Edit an activity's details; editing a done activity's time moves the pool clock if it is newer."""
    _require_editable(actor, activity)
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"activity_update cannot change {sorted(unknown)}")
    activity = Activity.objects.select_for_update().select_related("customer").get(pk=activity.pk)
    before = snapshot(activity, AUDIT_FIELDS)
    if "subject" in fields:
        fields["subject"] = _check_subject(fields["subject"])
    if fields.get("kind") and fields["kind"] not in ActivityKind.values:
        raise ValidationError({"kind": [_("Unknown activity type.")]})
    if activity.status == ActivityStatus.PLANNED and "planned_at" in fields and fields["planned_at"] is None:
        raise ValidationError({"planned_at": [ERR_PLANNED_AT_REQUIRED]})
    if activity.status == ActivityStatus.DONE:
        if "occurred_at" in fields and fields["occurred_at"] is None:
            fields.pop("occurred_at")
        if fields.get("occurred_at"):
            _check_not_future(fields["occurred_at"])
    for name, value in fields.items():
        setattr(activity, name, "" if value is None and name not in ("planned_at", "occurred_at") else value)
    activity.save()
    if participants is not None:
        activity.participants.set([u for u in participants if u.pk != activity.owner_id])
    if contacts is not None:
        activity.contacts.set(_check_contacts(activity.customer, contacts))
    changed = audit_update(actor=actor, obj=activity, before=before)
    if (
        activity.status == ActivityStatus.DONE
        and changed
        and ("occurred_at" in changed.changes or "kind" in changed.changes)
    ):
        _record_clock(activity)
    return activity


def activity_photos_add(*, actor: User, activity: Activity, photos: Iterable[UploadedFile]) -> list[Any]:
    """Attach visit photos (images only) to ``activity`` through the platform's attachments."""
    from steelyard.core.services.collaboration import attachment_add

    photos = list(photos)
    for photo in photos:
        ext = (photo.name or "").rsplit(".", 1)[-1].lower() if "." in (photo.name or "") else ""
        if ext not in PHOTO_EXTENSIONS:
            raise ValidationError({"photos": [ERR_PHOTO_TYPE]})
    with transaction.atomic():
        return [attachment_add(actor=actor, subject=activity, uploaded_file=p) for p in photos]
