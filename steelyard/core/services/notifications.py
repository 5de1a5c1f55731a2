"""Notifications: telling people that something needs their attention.

A *notification* is one message to one person, optionally about a record (its
*subject*) with a link to it. ``notify`` is the only way to send one; modules call it
from their services::

    notify(
        recipients=[approver],
        title=lambda: _("%(name)s asks for your approval") % {"name": requester},
        subject=quote,
        event="approval.requested",
        actor=requester,
    )

Title and body are stored already rendered in each recipient's own language, so pass a
lazy string (``gettext_lazy``, ``format_lazy``) or a no-argument callable that returns
the text; it is evaluated inside ``translation.override(recipient.language)``. (A lazy
string with ``%`` applied is already rendered in the *current* language: use a callable
or ``format_lazy`` when you need placeholders.)

Channels
--------
Every notification is first a row in the recipient's inbox. A *channel* then delivers
it somewhere else: the in-app channel does nothing more (the row *is* the in-app
notification); email, WeCom (企业微信) and outbound webhooks plug in later as classes with
a ``key`` and a ``send(notification) -> None`` method (see :class:`NotificationChannel`)
listed by dotted path in ``settings.NOTIFICATION_CHANNELS``::

    NOTIFICATION_CHANNELS = [
        "steelyard.core.services.notifications.InAppChannel",
        "steelyard.integrations.channels.EmailChannel",      # later: issue 4
        "steelyard.integrations.channels.WeComChannel",
    ]

Channels are called after the surrounding transaction commits, once per notification;
a channel should enqueue its slow work as a task (``steelyard.core.tasks``) and decide
for itself whom it serves (e.g. only recipients with an email address, or per-user
preferences). A failing channel is logged and never undoes the notification or the
business change that caused it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.utils import timezone, translation
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from steelyard.core.models import Notification

if TYPE_CHECKING:
    from steelyard.org.models import User

logger = logging.getLogger(__name__)

DEFAULT_CHANNELS = ["steelyard.core.services.notifications.InAppChannel"]
NOT_YOUR_NOTIFICATION = _("This notification is not yours.")

TITLE_MAX = Notification._meta.get_field("title").max_length or 200
URL_MAX = Notification._meta.get_field("url").max_length or 300

Text = str | Callable[[], Any] | Any  # plain str, lazy string, or a callable returning text


@runtime_checkable
class NotificationChannel(Protocol):
    """Something that delivers a stored notification: in-app, email, WeCom, a webhook."""

    key: str

    def send(self, notification: Notification) -> None: ...


class InAppChannel:
    """The inbox itself: the ``Notification`` row is the delivery, so there is nothing more to do."""

    key = "in_app"

    def send(self, notification: Notification) -> None:
        return None


@lru_cache(maxsize=8)
def _load_channels(paths: tuple[str, ...]) -> tuple[NotificationChannel, ...]:
    return tuple(import_string(p)() for p in paths)


def notification_channels() -> tuple[NotificationChannel, ...]:
    """The channels configured in ``settings.NOTIFICATION_CHANNELS`` (in-app by default)."""
    paths = getattr(settings, "NOTIFICATION_CHANNELS", None) or DEFAULT_CHANNELS
    return _load_channels(tuple(paths))


def _render(value: Text, language: str) -> str:
    if value is None:
        return ""
    with translation.override(language or settings.LANGUAGE_CODE):
        if callable(value):
            value = value()
        return str(value)


def _subject_url(subject: models.Model | None) -> str:
    if subject is None:
        return ""
    get_url = getattr(subject, "get_absolute_url", None)
    if callable(get_url):
        try:
            return str(get_url())
        except Exception:  # a record without a page must not break the notification
            logger.exception("get_absolute_url failed for %r", subject)
    from django.urls import reverse

    meta = subject._meta
    return reverse("record_collab", args=[f"{meta.app_label}.{meta.model_name}", subject.pk])


def _deliver(notifications: list[Notification]) -> None:
    for channel in notification_channels():
        if isinstance(channel, InAppChannel):
            continue
        for n in notifications:
            try:
                channel.send(n)
            except Exception:
                logger.exception("notification channel %s failed for notification %s", channel.key, n.pk)


@transaction.atomic
def notify(
    *,
    recipients: Iterable[User],
    title: Text,
    body: Text = "",
    subject: models.Model | None = None,
    url: str = "",
    event: str = "",
    actor: User | None = None,
) -> list[Notification]:
    """Put a notification in each recipient's inbox and hand it to the configured channels.

    Inactive recipients and the actor themselves are skipped; a person listed twice gets
    one notification. ``url`` defaults to the subject's page. Returns the notifications
    created (possibly none).
    """
    seen: set[Any] = set()
    targets: list[User] = []
    actor_pk = getattr(actor, "pk", None)
    for user in recipients:
        if user is None or user.pk in seen or not user.is_active:
            continue
        seen.add(user.pk)
        if actor_pk is not None and user.pk == actor_pk:
            continue
        targets.append(user)
    if not targets:
        return []

    content_type = ContentType.objects.get_for_model(subject) if subject is not None else None
    object_id = str(subject.pk) if subject is not None else ""
    link = (url or _subject_url(subject))[:URL_MAX]
    rows = [
        Notification(
            recipient=user,
            event=event[:60],
            title=_render(title, getattr(user, "language", ""))[:TITLE_MAX],
            body=_render(body, getattr(user, "language", "")),
            url=link,
            content_type=content_type,
            object_id=object_id,
            actor=actor if actor_pk is not None else None,
        )
        for user in targets
    ]
    created = Notification.objects.bulk_create(rows)
    transaction.on_commit(lambda: _deliver(created))
    return created


@transaction.atomic
def notification_mark_read(*, actor: User, notification: Notification) -> Notification:
    """Mark one of the actor's own notifications read (idempotent).

    Read state is the reader's private bookkeeping, not a change to business data, so it
    is not written to the audit log.
    """
    if notification.recipient_id != actor.pk:
        raise PermissionDenied(NOT_YOUR_NOTIFICATION)
    if notification.read_at is None:
        notification.read_at = timezone.now()
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(
            read_at=notification.read_at
        )
    return notification


@transaction.atomic
def notification_mark_all_read(*, actor: User) -> int:
    """Mark every unread notification of the actor read; returns how many changed."""
    return Notification.objects.filter(recipient_id=actor.pk, read_at__isnull=True).update(
        read_at=timezone.now()
    )
