"""Messages to customers: their endpoints, the wording, the outbox, sending and retrying, status links.

How a message comes about
-------------------------
1. A service publishes a customer-facing event (``order.status_changed``, ``shipment.shipped``).
2. :func:`on_customer_event` (subscribed on the event bus) finds the customer's active endpoints that
   want this event (one indexed query; nothing more when there are none), renders one message per
   endpoint in the endpoint's language, and writes the ``OutboundMessage`` rows in the publisher's
   transaction. Once that transaction commits, a background job sends them.
3. :func:`message_deliver` sends one message through its channel (``steelyard.integrations.channels``)
   and records the outcome: delivered, or retried later with backoff (``BACKOFF_SECONDS``), failed
   after ``MAX_ATTEMPTS``. The periodic job ``integrations.messages_retry`` picks up what is due.

Every message carries the signed link to the order's public status page (:func:`order_status_link`):
a ``TimestampSigner`` token holding the order's id, valid ``settings.ORDER_STATUS_LINK_DAYS`` days.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.template import Context, Engine, Template, TemplateSyntaxError
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from steelyard.core.access import ADMINISTRATOR, user_has_role
from steelyard.core.events import Event, event_type, event_types
from steelyard.core.services.audit import audit_create, audit_delete, audit_record, audit_update, snapshot
from steelyard.customers.models import Contact, Customer
from steelyard.customers.services.customers import can_change
from steelyard.integrations import message_defaults as defaults
from steelyard.integrations.channels import CHANNELS, ChannelError, channel_for
from steelyard.integrations.models import (
    ChannelKind,
    DeliveryStatus,
    MessageTemplate,
    NotificationEndpoint,
    OutboundMessage,
)
from steelyard.orders.models import OrderStatus, SalesOrder, Shipment

logger = logging.getLogger(__name__)

LINK_SALT = "steelyard.order-status"
ORDER_SUBJECT = "orders.salesorder"
MAX_ATTEMPTS = 6
BACKOFF_SECONDS = (300, 900, 3600, 3 * 3600, 6 * 3600)  # after attempt 1, 2, ...
CLAIM_SECONDS = 600  # a message being sent is not picked again for this long
SUBJECT_MAX = OutboundMessage._meta.get_field("title").max_length or 200
ENDPOINT_FIELDS = ["customer_id", "contact_id", "channel", "address", "language", "events", "is_active"]
TEMPLATE_FIELDS = ["event", "channel", "language", "subject", "body", "is_active"]
LANGUAGE_CHOICES = [("zh-hans", "简体中文"), ("en", "English")]

ERR_NOT_ALLOWED = _("You may not change this customer's notifications.")
ERR_ADMIN_ONLY = _("Only administrators may change message templates.")
ERR_CONTACT = _("Choose one of this customer's contacts.")
ERR_LANGUAGE = _("Choose Chinese or English.")
ERR_EVENTS = _("Unknown events: %(names)s")
ERR_EVENT = _("Messages are not sent for “%(event)s”.")
ERR_TEMPLATE_SYNTAX = _("The template has an error: %(error)s")
ERR_RETRY_STATUS = _("Only a failed message can be sent again.")
ERR_ENDPOINT_INACTIVE = _("The endpoint was deactivated; the message was not sent.")
ERR_UNEXPECTED = _("Sending failed unexpectedly: %(error)s")
ERR_INACTIVE_TEST = _("Activate the endpoint before sending a test message.")
ERR_CHANNEL = _("Choose WeCom, email or webhook.")


class StatusLinkInvalid(Exception):
    """The status link was altered or made up."""


class StatusLinkExpired(StatusLinkInvalid):
    """The status link is genuine but too old."""


# --- the signed status link -----------------------------------------------------------------


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=LINK_SALT)


def order_status_token(order: SalesOrder | int, *, days: int | None = None) -> str:
    """A token carrying the order's id (and its own validity when ``days`` is given), timestamped."""
    pk = order if isinstance(order, int) else order.pk
    value = str(pk) if days is None else f"{pk}.{int(days)}"
    return _signer().sign(value)


def order_status_link(
    order: SalesOrder | int,
    *,
    days: int | None = None,
    language: str = "",
    base_url: str | None = None,
) -> str:
    """The absolute URL of the order's public status page, valid ``days`` (default: the setting).

    The page is in Chinese unless ``language`` asks for English (``?lang=en``).
    """
    path = reverse("order_status_page", args=[order_status_token(order, days=days)])
    query = f"?lang={language}" if language and language != defaults.FALLBACK_LANGUAGE else ""
    return f"{(base_url or settings.SITE_URL).rstrip('/')}{path}{query}"


def order_status_token_read(token: str) -> int:
    """The order id in ``token``; StatusLinkExpired when too old, StatusLinkInvalid when not genuine."""
    signer = _signer()
    try:
        value = signer.unsign(str(token))
    except signing.BadSignature:
        raise StatusLinkInvalid from None
    pk_text, _sep, days_text = value.partition(".")
    try:
        pk = int(pk_text)
        days = int(days_text) if days_text else int(settings.ORDER_STATUS_LINK_DAYS)
    except ValueError:
        raise StatusLinkInvalid from None
    try:
        signer.unsign(str(token), max_age=dt.timedelta(days=days))
    except signing.SignatureExpired:
        raise StatusLinkExpired from None
    except signing.BadSignature:  # pragma: no cover - verified above
        raise StatusLinkInvalid from None
    return pk


def _link_pattern() -> re.Pattern[str]:
    base = re.escape(settings.SITE_URL.rstrip("/") + reverse("order_status_page", args=["TOKEN"]))
    return re.compile(base.replace("TOKEN", r"[A-Za-z0-9_\-.:]+") + r"(?:\?lang=[a-z\-]+)?")


def link_in(text: str) -> str:
    """The status link written into a rendered message (the one the customer got), or ""."""
    match = _link_pattern().search(text or "")
    return match.group(0) if match else ""


# --- wording ------------------------------------------------------------------------------------

# Administrators' templates are rendered by their own engine: no loaders (no {% include %} of files),
# no tag libraries, plain text (autoescape off; the HTML part of an email escapes the text itself).
ENGINE = Engine(
    dirs=[], app_dirs=False, loaders=[("django.template.loaders.locmem.Loader", {})], libraries={}
)


def company_name() -> str:
    """Our company: the top of the organisation tree (the site's name when there is none)."""
    from steelyard.org.models import OrgUnit

    root = OrgUnit.objects.filter(parent__isnull=True).order_by("path").values_list("name", flat=True).first()
    return root or str(settings.STEELYARD_SITE_NAME)


def customer_facing_events() -> list[Any]:
    """The declared event types a customer may be told about."""
    return [et for et in event_types() if et.customer_facing]


def template_events() -> list[tuple[str, Any]]:
    """(event, label) of everything that has customer wording: customer-facing events and the test."""
    return [(et.code, et.label) for et in customer_facing_events()] + [
        (defaults.TEST_EVENT, _("Test message"))
    ]


def _overrides(event: str) -> dict[tuple[str, str], MessageTemplate]:
    rows = MessageTemplate.objects.filter(event=event, is_active=True)
    return {(t.channel, t.language): t for t in rows}


def template_source(
    event: str, channel: str, language: str, overrides: dict[tuple[str, str], MessageTemplate] | None = None
) -> tuple[str, str, MessageTemplate | None]:
    """(subject, body, override row or None): the channel's override, the all-channel one, the default."""
    if overrides is None:
        overrides = _overrides(event)
    for key in ((channel, language), ("", language)):
        row = overrides.get(key)
        if row is not None:
            return row.subject, row.body, row
    subject, body = defaults.default_template(event, language)
    return subject, body, None


def _render_text(source: str, context: dict[str, Any]) -> str:
    return Template(source, engine=ENGINE).render(Context(context, autoescape=False))


def render_pair(subject_src: str, body_src: str, context: dict[str, Any], language: str) -> tuple[str, str]:
    """Render (subject, body) in ``language``; raises TemplateSyntaxError for a broken template."""
    with translation.override(language or defaults.FALLBACK_LANGUAGE):
        values = {k: str(v) if v is not None else "" for k, v in context.items()}
        subject = " ".join(_render_text(subject_src, values).split())[:SUBJECT_MAX]
        body = _render_text(body_src, values).strip()
    body = re.sub(r"\n{3,}", "\n\n", body)
    return subject, body + "\n"


def message_render(
    *,
    event: str,
    channel: str,
    language: str,
    context: dict[str, Any],
    overrides: dict[tuple[str, str], MessageTemplate] | None = None,
) -> tuple[str, str]:
    """The message's (subject, body): the administrator's wording, or the default when it is broken."""
    subject_src, body_src, row = template_source(event, channel, language, overrides)
    try:
        return render_pair(subject_src, body_src, context, language)
    except Exception:  # noqa: BLE001 - a broken override must not stop the message
        if row is None:
            raise
        logger.exception("message template %s is broken; using the default", row.pk)
        subject_src, body_src = defaults.default_template(event, language)
        return render_pair(subject_src, body_src, context, language)


def _when(at: dt.datetime | dt.date | None, language: str) -> str:
    if at is None:
        return ""
    with translation.override(language or defaults.FALLBACK_LANGUAGE):
        if isinstance(at, dt.datetime):
            return date_format(timezone.localtime(at), "DATETIME_FORMAT")
        return date_format(at, "DATE_FORMAT")


def _status_label(status: str, language: str) -> str:
    with translation.override(language or defaults.FALLBACK_LANGUAGE):
        try:
            return str(OrderStatus(status).label)
        except ValueError:
            return status


def message_context(
    *, facts: dict[str, Any], endpoint: NotificationEndpoint, customer_name: str, company: str, link: str
) -> dict[str, Any]:
    """The fixed placeholders (see ``message_defaults.PLACEHOLDERS``) for one endpoint's message."""
    language = endpoint.language
    et = event_type(facts.get("event", ""))
    with translation.override(language or defaults.FALLBACK_LANGUAGE):
        event_label = str(et.label) if et else ""
    return {
        "company": company,
        "customer": customer_name,
        "contact": endpoint.contact.name if endpoint.contact_id and endpoint.contact else "",
        "order_number": facts.get("order_number", ""),
        "status": _status_label(facts.get("status", ""), language) if facts.get("status") else "",
        "time": _when(facts.get("at"), language),
        "link": link,
        "shipment_number": facts.get("shipment_number", ""),
        "carrier": facts.get("carrier", ""),
        "tracking_no": facts.get("tracking_no", ""),
        "event_label": event_label,
    }


def sample_context(language: str) -> dict[str, Any]:
    """Example values for previewing a template."""
    with translation.override(language or defaults.FALLBACK_LANGUAGE):
        return {
            "company": company_name(),
            "customer": "上海示例重工有限公司" if language != "en" else "Example Heavy Industry Co., Ltd.",
            "contact": "王经理" if language != "en" else "Mr Wang",
            "order_number": "SO-2026-0001",
            "status": str(OrderStatus.IN_PRODUCTION.label),
            "time": _when(timezone.now(), language),
            "link": f"{settings.SITE_URL.rstrip('/')}/track/EXAMPLE/",
            "shipment_number": "SH-2026-0001",
            "carrier": "顺丰速运" if language != "en" else "SF Express",
            "tracking_no": "SF1234567890",
            "event_label": str(_("Order status changed")),
        }


# --- the event subscriber ---------------------------------------------------------------------


def _event_facts(event: Event) -> dict[str, Any]:
    """Customer, order and shipment facts of a customer-facing event, without touching the database."""
    payload = event.payload or {}
    subject = event.subject
    facts: dict[str, Any] = {"event": event.type}
    if isinstance(subject, SalesOrder):
        facts.update(
            customer_id=subject.customer_id,
            order_id=subject.pk,
            order=subject,
            status=subject.status,
            at=subject.status_at,
        )
    elif isinstance(subject, Shipment):
        facts.update(
            customer_id=subject.customer_id,
            order_id=subject.order_id,
            shipment_number=subject.number,
            carrier=subject.carrier,
            tracking_no=subject.tracking_no,
            at=subject.shipped_on,
        )
    facts.setdefault("customer_id", payload.get("customer_id"))
    facts.setdefault("order_id", payload.get("order_id"))
    for key, name in (
        ("status", "status"),
        ("shipment_number", "shipment"),
        ("carrier", "carrier"),
        ("tracking_no", "tracking_no"),
    ):
        if not facts.get(key) and payload.get(name):
            facts[key] = str(payload[name])
    if not facts.get("at"):
        raw = payload.get("status_at") or payload.get("shipped_on") or payload.get("at")
        parsed: dt.datetime | dt.date | None = None
        if isinstance(raw, str):
            try:
                parsed = dt.datetime.fromisoformat(raw) if "T" in raw else dt.date.fromisoformat(raw)
            except ValueError:
                parsed = None
        elif isinstance(raw, (dt.datetime, dt.date)):
            parsed = raw
        facts["at"] = parsed or timezone.now()
    return facts


def _wants(endpoint: NotificationEndpoint, event: str) -> bool:
    return not endpoint.events or event in endpoint.events


def on_customer_event(event: Event) -> None:
    """Write one message per interested endpoint of the customer; send them after the commit."""
    et = event_type(event.type)
    if et is None or not et.customer_facing:
        return
    facts = _event_facts(event)
    if not facts.get("customer_id"):
        return
    endpoints = [
        e
        for e in NotificationEndpoint.objects.filter(customer_id=facts["customer_id"], is_active=True)
        .select_related("contact")
        .order_by("pk")
        if _wants(e, event.type)
    ]
    if not endpoints:
        return
    order = facts.get("order")
    if order is None and facts.get("order_id"):
        order = SalesOrder.objects.filter(pk=facts["order_id"]).first()
    if order is None:
        logger.warning("customer event %s without an order: no message", event.type)
        return
    facts.setdefault("status", order.status)
    facts["order_number"] = order.number
    created = _messages_create(
        endpoints=endpoints, event=event.type, facts=facts, order=order, customer_name=_customer_name(order)
    )
    _send_after_commit([m.pk for m in created])


def _customer_name(order: SalesOrder) -> str:
    return order.customer.legal_name  # cached when the publisher loaded it; else one query


def _messages_create(
    *,
    endpoints: Iterable[NotificationEndpoint],
    event: str,
    facts: dict[str, Any],
    order: SalesOrder | None,
    customer_name: str,
) -> list[OutboundMessage]:
    company = company_name()
    overrides = _overrides(event)
    token_link = order_status_link(order) if order is not None else ""  # one token for all endpoints
    now = timezone.now()
    rows = []
    for endpoint in endpoints:
        link = token_link
        if link and endpoint.language != defaults.FALLBACK_LANGUAGE:
            link = f"{token_link}?lang={endpoint.language}"
        context = message_context(
            facts=facts, endpoint=endpoint, customer_name=customer_name, company=company, link=link
        )
        subject, body = message_render(
            event=event,
            channel=endpoint.channel,
            language=endpoint.language,
            context=context,
            overrides=overrides,
        )
        if link and link not in body:  # every customer message carries its status link
            body = f"{body.rstrip()}\n{link}\n"
        rows.append(
            OutboundMessage(
                endpoint=endpoint,
                event=event,
                subject_type=ORDER_SUBJECT if order is not None else "",
                subject_id=order.pk if order is not None else None,
                language=endpoint.language,
                title=subject,
                body=body,
                status=DeliveryStatus.PENDING,
                next_attempt_at=now,
            )
        )
    return OutboundMessage.objects.bulk_create(rows)  # ids come back on PostgreSQL and SQLite ≥ 3.35


def _send_after_commit(message_ids: list[int]) -> None:
    if not message_ids:
        return

    def enqueue() -> None:
        from steelyard.core.tasks import enqueue_job
        from steelyard.integrations.tasks_messages import messages_send

        enqueue_job(messages_send, args=[message_ids], label=str(_("Send customer messages")))

    transaction.on_commit(enqueue, robust=True)


# --- sending ----------------------------------------------------------------------------------


def backoff(attempts: int) -> dt.timedelta:
    """How long to wait after ``attempts`` failed tries."""
    index = min(max(attempts, 1), len(BACKOFF_SECONDS)) - 1
    return dt.timedelta(seconds=BACKOFF_SECONDS[index])


def message_claim(*, message_id: int) -> OutboundMessage | None:
    """Take a due message for sending (so a parallel run does not send it too); None when not due."""
    now = timezone.now()
    taken = (
        OutboundMessage.objects.filter(
            pk=message_id, status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING]
        )
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(next_attempt_at=now + dt.timedelta(seconds=CLAIM_SECONDS))
    )
    if not taken:
        return None
    return OutboundMessage.objects.select_related("endpoint").get(pk=message_id)


def _webhook_payload(message: OutboundMessage, link: str) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "event": message.event,
        "message_id": message.pk,
        "customer_id": message.endpoint.customer_id,
    }
    if message.subject_type == ORDER_SUBJECT and message.subject_id:
        order = SalesOrder.objects.filter(pk=message.subject_id).only("number", "status", "status_at").first()
        if order is not None:
            payload.update(
                order_id=order.pk,
                order=order.number,
                status=order.status,
                status_at=order.status_at.isoformat() if order.status_at else None,
            )
    payload["status_link"] = link
    return payload


def message_deliver(*, message_id: int) -> str | None:
    """Send one due message through its channel and record the outcome; returns the new status."""
    message = message_claim(message_id=message_id)
    if message is None:
        return None
    endpoint = message.endpoint
    link = link_in(message.body)
    if not link and message.subject_type == ORDER_SUBJECT and message.subject_id:
        link = order_status_link(message.subject_id, language=message.language)
    try:
        if not endpoint.is_active:
            return _record_failure(message, str(ERR_ENDPOINT_INACTIVE), final=True)
        channel = channel_for(endpoint.channel)
        channel.send(
            endpoint.address,
            subject=message.title,
            body=message.body,
            link=link,
            secret=endpoint.secret,
            language=message.language,
            payload=_webhook_payload(message, link) if endpoint.channel == ChannelKind.WEBHOOK else {},
        )
    except ChannelError as exc:
        return _record_failure(message, str(exc))
    except ValidationError as exc:  # an unknown channel: nothing will make it work
        return _record_failure(message, " ".join(exc.messages), final=True)
    except Exception as exc:  # noqa: BLE001 - logged, counted as a failed attempt, retried
        logger.exception("sending message %s failed", message.pk)
        return _record_failure(message, str(ERR_UNEXPECTED % {"error": str(exc)[:300]}))
    now = timezone.now()
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=DeliveryStatus.DELIVERED,
        attempts=models.F("attempts") + 1,
        sent_at=now,
        next_attempt_at=None,
        last_error="",
    )
    return DeliveryStatus.DELIVERED


def _record_failure(message: OutboundMessage, error: str, *, final: bool = False) -> str:
    attempts = message.attempts + 1
    if final or attempts >= MAX_ATTEMPTS:
        status, next_at = DeliveryStatus.FAILED, None
    else:
        status, next_at = DeliveryStatus.RETRYING, timezone.now() + backoff(attempts)
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=status, attempts=attempts, next_attempt_at=next_at, last_error=error[:2000]
    )
    logger.info("message %s attempt %s failed (%s): %s", message.pk, attempts, status, error)
    return status


@transaction.atomic
def message_retry(*, actor: Any, message: OutboundMessage) -> OutboundMessage:
    """Send a failed message again now (owner, managers, administrators); audited."""
    message = (
        OutboundMessage.objects.select_for_update().select_related("endpoint__customer").get(pk=message.pk)
    )
    if not can_change(actor, message.endpoint.customer):
        raise PermissionDenied(ERR_NOT_ALLOWED)
    if message.status != DeliveryStatus.FAILED:
        raise ValidationError(ERR_RETRY_STATUS, code="invalid")
    before = snapshot(message, ["status", "next_attempt_at"])
    message.status = DeliveryStatus.RETRYING
    message.next_attempt_at = timezone.now()
    message.save(update_fields=["status", "next_attempt_at"])
    audit_update(actor=actor, obj=message, before=before, verb="integrations.message_retry")
    _send_after_commit([message.pk])
    return message


# --- endpoints ----------------------------------------------------------------------------------


def _require_change(actor: Any, customer: Customer) -> None:
    if not can_change(actor, customer):
        raise PermissionDenied(ERR_NOT_ALLOWED)


def _clean_events(events: Iterable[str] | None) -> list[str]:
    known = [et.code for et in customer_facing_events()]
    wanted = list(dict.fromkeys(str(e) for e in (events or ()) if str(e)))
    unknown = [e for e in wanted if e not in known]
    if unknown:
        raise ValidationError({"events": ERR_EVENTS % {"names": ", ".join(unknown)}}, code="invalid")
    return [e for e in known if e in wanted]


def _clean_endpoint(
    *, customer: Customer, channel: str, address: str, contact: Contact | None, language: str
) -> str:
    errors: dict[str, Any] = {}
    address = (address or "").strip()
    if channel not in CHANNELS:
        errors["channel"] = ERR_CHANNEL
    else:
        try:
            CHANNELS[channel].validate_address(address)
        except ValidationError as e:
            errors["address"] = e.messages
    if contact is not None and (contact.customer_id != customer.pk or not contact.is_active):
        errors["contact"] = ERR_CONTACT
    if language not in dict(LANGUAGE_CHOICES):
        errors["language"] = ERR_LANGUAGE
    if errors:
        raise ValidationError(errors, code="invalid")
    return address


@transaction.atomic
def endpoint_create(
    *,
    actor: Any,
    customer: Customer,
    channel: str,
    address: str,
    contact: Contact | None = None,
    language: str = "zh-hans",
    events: Iterable[str] | None = None,
    secret: str = "",
) -> NotificationEndpoint:
    """Add a place where ``customer`` hears about its orders; a webhook gets a signing secret."""
    _require_change(actor, customer)
    address = _clean_endpoint(
        customer=customer, channel=channel, address=address, contact=contact, language=language
    )
    endpoint = NotificationEndpoint.objects.create(
        customer=customer,
        contact=contact,
        channel=channel,
        address=address,
        language=language,
        events=_clean_events(events),
        secret=(secret or "").strip() or (secrets.token_hex(24) if CHANNELS[channel].needs_secret else ""),
    )
    audit_create(actor=actor, obj=endpoint, fields=ENDPOINT_FIELDS)
    return endpoint


@transaction.atomic
def endpoint_update(*, actor: Any, endpoint: NotificationEndpoint, **fields: Any) -> NotificationEndpoint:
    """Change an endpoint (channel, address, contact, language, events, active, secret)."""
    endpoint = NotificationEndpoint.objects.select_for_update().select_related("customer").get(pk=endpoint.pk)
    _require_change(actor, endpoint.customer)
    before = snapshot(endpoint, ENDPOINT_FIELDS)
    old_secret = endpoint.secret
    allowed = {"channel", "address", "contact", "language", "events", "is_active", "secret"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError({"__all__": f"Unknown fields: {', '.join(sorted(unknown))}"})
    for name in ("channel", "address", "contact", "language", "is_active"):
        if name in fields:
            setattr(endpoint, name, fields[name])
    if "events" in fields:
        endpoint.events = _clean_events(fields["events"])
    endpoint.address = _clean_endpoint(
        customer=endpoint.customer,
        channel=endpoint.channel,
        address=endpoint.address,
        contact=endpoint.contact,
        language=endpoint.language,
    )
    if fields.get("secret"):
        endpoint.secret = str(fields["secret"]).strip()
    if CHANNELS[endpoint.channel].needs_secret and not endpoint.secret:
        endpoint.secret = secrets.token_hex(24)
    endpoint.save()
    audit_update(actor=actor, obj=endpoint, before=before, verb="integrations.endpoint_update")
    if endpoint.secret != old_secret:  # the secret itself never goes into the audit log
        audit_record(actor=actor, action="update", obj=endpoint, verb="integrations.endpoint_secret")
    return endpoint


@transaction.atomic
def endpoint_deactivate(*, actor: Any, endpoint: NotificationEndpoint) -> NotificationEndpoint:
    """Stop sending to this endpoint (kept, with its messages, for the record)."""
    return endpoint_update(actor=actor, endpoint=endpoint, is_active=False)


@transaction.atomic
def endpoint_send_test(*, actor: Any, endpoint: NotificationEndpoint) -> OutboundMessage:
    """Queue a test message to ``endpoint`` (with the customer's latest order as the example link)."""
    endpoint = NotificationEndpoint.objects.select_related("customer", "contact").get(pk=endpoint.pk)
    _require_change(actor, endpoint.customer)
    if not endpoint.is_active:
        raise ValidationError(ERR_INACTIVE_TEST, code="inactive")
    order = SalesOrder.objects.filter(customer=endpoint.customer).order_by("-ordered_on", "-pk").first()
    facts: dict[str, Any] = {"event": defaults.TEST_EVENT, "at": timezone.now()}
    if order is not None:
        facts.update(order_number=order.number, status=order.status)
    (message,) = _messages_create(
        endpoints=[endpoint],
        event=defaults.TEST_EVENT,
        facts=facts,
        order=order,
        customer_name=endpoint.customer.legal_name,
    )
    audit_record(
        actor=actor,
        action="action",
        obj=endpoint,
        verb="integrations.endpoint_test",
        extra={"message": message.pk},
    )
    _send_after_commit([message.pk])
    return message


# --- message templates (administrators) ----------------------------------------------------------


def _require_admin(actor: Any) -> None:
    if not user_has_role(actor, ADMINISTRATOR):
        raise PermissionDenied(ERR_ADMIN_ONLY)


def template_check(subject: str, body: str, language: str) -> tuple[str, str]:
    """Render with example values; ValidationError naming the problem when a template is broken."""
    try:
        return render_pair(subject, body, sample_context(language), language)
    except TemplateSyntaxError as exc:
        raise ValidationError({"body": ERR_TEMPLATE_SYNTAX % {"error": str(exc)}}, code="invalid") from None
    except Exception as exc:  # noqa: BLE001 - any render error is the template's fault
        raise ValidationError({"body": ERR_TEMPLATE_SYNTAX % {"error": str(exc)}}, code="invalid") from None


def _check_event(event: str) -> None:
    if event not in dict(template_events()):
        raise ValidationError({"event": ERR_EVENT % {"event": event}}, code="invalid")


@transaction.atomic
def message_template_save(
    *,
    actor: Any,
    event: str,
    language: str,
    channel: str = "",
    subject: str,
    body: str,
    is_active: bool = True,
) -> MessageTemplate:
    """Create or change the administrator's wording for ``event`` in ``language`` (and channel)."""
    _require_admin(actor)
    _check_event(event)
    errors: dict[str, Any] = {}
    if language not in dict(LANGUAGE_CHOICES):
        errors["language"] = ERR_LANGUAGE
    if channel and channel not in CHANNELS:
        errors["channel"] = ERR_CHANNEL
    if errors:
        raise ValidationError(errors, code="invalid")
    subject, body = (subject or "").strip(), (body or "").strip()
    template_check(subject, body, language)
    row = (
        MessageTemplate.objects.select_for_update()
        .filter(event=event, language=language, channel=channel)
        .first()
    )
    if row is None:
        row = MessageTemplate.objects.create(
            event=event, language=language, channel=channel, subject=subject, body=body, is_active=is_active
        )
        audit_create(actor=actor, obj=row, fields=TEMPLATE_FIELDS)
        return row
    before = snapshot(row, TEMPLATE_FIELDS)
    row.subject, row.body, row.is_active = subject, body, is_active
    row.save()
    audit_update(actor=actor, obj=row, before=before, verb="integrations.template_update")
    return row


@transaction.atomic
def message_template_reset(*, actor: Any, template: MessageTemplate) -> None:
    """Delete the override: the shipped wording applies again."""
    _require_admin(actor)
    audit_delete(actor=actor, obj=template)
    template.delete()
