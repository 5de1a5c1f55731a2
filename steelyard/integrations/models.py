"""The integration layer: external systems, the key map of their records, inbound batches and
file imports, outbound webhooks, and messages to customers over WeCom, email and webhooks.

Idempotency lives in :class:`ExternalRecord`: one row per ``(system, entity, external_id)``
holding the local record's id, the newest source version applied and a hash of the content
applied. A replayed record has the same hash and version, so nothing is written; an older
version is never applied over a newer one.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from steelyard.core.scopes import ScopedManager
from steelyard.customers.models import CustomerScoped


class SystemKind(models.TextChoices):
    ERP = "erp", _("ERP")
    APS = "aps", _("APS (production planning)")
    MES = "mes", _("MES (shop floor)")
    SRM = "srm", _("SRM (suppliers)")
    OA = "oa", _("OA (office approvals)")
    OTHER = "other", _("Other")


class ExternalSystem(models.Model):
    """A system we exchange data with. It writes through its own machine user's API tokens."""

    code = models.SlugField(_("code"), max_length=30, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=10, choices=SystemKind.choices, default=SystemKind.ERP)
    description = models.TextField(_("description"), blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("machine user"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="external_system",
    )
    entities = models.JSONField(
        _("may write"),
        default=list,
        blank=True,
        help_text=_("Entity types this system may write; empty means all."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("external system")
        verbose_name_plural = _("external systems")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class ExternalRecord(models.Model):
    """The key map: which local record an external id stands for, and what was last applied to it."""

    system = models.ForeignKey(
        ExternalSystem, verbose_name=_("system"), on_delete=models.PROTECT, related_name="records"
    )
    entity = models.CharField(_("entity"), max_length=30)
    external_id = models.CharField(_("external id"), max_length=100)
    object_id = models.BigIntegerField(_("local id"))
    version = models.BigIntegerField(
        _("source version"),
        help_text=_("The newest version applied: the sender's version number or its timestamp in µs."),
    )
    content_hash = models.CharField(_("content hash"), max_length=64)
    applied_at = models.DateTimeField(_("applied"), auto_now=True)

    class Meta:
        verbose_name = _("external record")
        verbose_name_plural = _("external records")
        constraints = [
            models.UniqueConstraint(fields=["system", "entity", "external_id"], name="uq_external_record")
        ]
        indexes = [models.Index(fields=["entity", "object_id"])]

    def __str__(self) -> str:
        return f"{self.system_id}:{self.entity}:{self.external_id}"


class Via(models.TextChoices):
    API = "api", _("API")
    FILE = "file", _("File import")


class InboundBatch(models.Model):
    """One batch received from a system (an API call or a file import) and what became of it."""

    system = models.ForeignKey(
        ExternalSystem, verbose_name=_("system"), on_delete=models.PROTECT, related_name="batches"
    )
    entity = models.CharField(_("entity"), max_length=30)
    via = models.CharField(_("via"), max_length=6, choices=Via.choices, default=Via.API)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("sent by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    received_at = models.DateTimeField(_("received"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    total = models.PositiveIntegerField(_("records"), default=0)
    created = models.PositiveIntegerField(_("created"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    rejected = models.PositiveIntegerField(_("rejected"), default=0)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)

    class Meta:
        verbose_name = _("inbound batch")
        verbose_name_plural = _("inbound batches")
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["system", "-received_at"])]

    def __str__(self) -> str:
        return f"{self.system_id} {self.entity} #{self.pk}"


class Outcome(models.TextChoices):
    CREATED = "created", _("Created")
    UPDATED = "updated", _("Updated")
    UNCHANGED = "unchanged", _("Unchanged")
    REJECTED = "rejected", _("Rejected")


class InboundResult(models.Model):
    """What happened to one record of a batch (API batches keep every result; files keep rejections)."""

    batch = models.ForeignKey(
        InboundBatch, verbose_name=_("batch"), on_delete=models.CASCADE, related_name="results"
    )
    position = models.PositiveIntegerField(_("position"))
    external_id = models.CharField(_("external id"), max_length=100, blank=True)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    object_id = models.BigIntegerField(_("local id"), null=True, blank=True)
    reasons = models.JSONField(_("reasons"), default=list, blank=True)

    class Meta:
        verbose_name = _("inbound result")
        verbose_name_plural = _("inbound results")
        ordering = ["batch", "position"]
        indexes = [models.Index(fields=["batch", "outcome", "position"])]

    def __str__(self) -> str:
        return f"{self.batch_id}#{self.position} {self.outcome}"


class ImportTemplate(models.Model):
    """A saved column mapping for file imports: which column of the file fills which field."""

    name = models.CharField(_("name"), max_length=100)
    entity = models.CharField(_("entity"), max_length=30)
    system = models.ForeignKey(
        ExternalSystem,
        verbose_name=_("system"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="import_templates",
    )
    mapping = models.JSONField(_("mapping"), default=dict, help_text=_("Field → column header in the file."))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("import template")
        verbose_name_plural = _("import templates")
        ordering = ["entity", "name"]
        constraints = [models.UniqueConstraint(fields=["entity", "name"], name="uq_import_template")]

    def __str__(self) -> str:
        return self.name


class FileImportStatus(models.TextChoices):
    UPLOADED = "uploaded", _("Uploaded")
    PREVIEWED = "previewed", _("Checked")
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Importing")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class FileImport(models.Model):
    """A CSV or xlsx file to import into one entity for one system: preview, run, report."""

    scope_owner_field = "created_by"
    scope_unit_field = "created_by__org_unit"

    system = models.ForeignKey(
        ExternalSystem, verbose_name=_("system"), on_delete=models.PROTECT, related_name="file_imports"
    )
    entity = models.CharField(_("entity"), max_length=30)
    template = models.ForeignKey(
        ImportTemplate,
        verbose_name=_("template"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    mapping = models.JSONField(_("mapping"), default=dict, blank=True)
    file = models.FileField(_("file"), upload_to="integrations/imports/%Y/%m/")
    original_name = models.CharField(_("file name"), max_length=200)
    file_format = models.CharField(_("format"), max_length=5)
    status = models.CharField(
        _("status"), max_length=10, choices=FileImportStatus.choices, default=FileImportStatus.UPLOADED
    )
    preview = models.JSONField(_("preview"), default=dict, blank=True)
    job = models.ForeignKey(
        "core.Job", verbose_name=_("job"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    batch = models.ForeignKey(
        InboundBatch,
        verbose_name=_("batch"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    total = models.PositiveIntegerField(_("rows"), default=0)
    created = models.PositiveIntegerField(_("created"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    rejected = models.PositiveIntegerField(_("rejected"), default=0)
    error_report = models.FileField(_("error report"), upload_to="integrations/reports/%Y/%m/", blank=True)
    error = models.TextField(_("error"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("uploaded"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    objects = ScopedManager()

    class Meta:
        verbose_name = _("file import")
        verbose_name_plural = _("file imports")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.original_name


class WebhookSubscription(models.Model):
    """An external system's endpoint that is told, signed, when chosen events happen here."""

    system = models.ForeignKey(
        ExternalSystem, verbose_name=_("system"), on_delete=models.CASCADE, related_name="webhooks"
    )
    url = models.URLField(_("URL"), max_length=500)
    secret = models.CharField(_("signing secret"), max_length=100)
    events = models.JSONField(_("events"), default=list, help_text=_("Event types to send."))
    description = models.CharField(_("description"), max_length=200, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")
        ordering = ["system", "url"]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", pgettext_lazy("delivery status", "Pending")
    RETRYING = "retrying", _("Retrying")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")


class WebhookDelivery(models.Model):
    """One event sent (or being sent) to one subscription, with every attempt's outcome."""

    subscription = models.ForeignKey(
        WebhookSubscription,
        verbose_name=_("subscription"),
        on_delete=models.CASCADE,
        related_name="deliveries",
    )
    event = models.CharField(_("event"), max_length=60)
    event_id = models.UUIDField(_("event id"), default=uuid.uuid4)
    payload = models.JSONField(_("payload"))
    status = models.CharField(
        _("status"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(_("last HTTP status"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    replay_of = models.ForeignKey(
        "self",
        verbose_name=_("replay of"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["subscription", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.subscription_id}"


class ChannelKind(models.TextChoices):
    WECOM = "wecom", _("WeCom group robot")
    EMAIL = "email", _("Email")
    WEBHOOK = "webhook", _("Webhook")


class NotificationEndpoint(CustomerScoped):
    """Where a customer (or one of its contacts) wants to hear about its orders, and about what."""

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="notification_endpoints",
    )
    contact = models.ForeignKey(
        "customers.Contact",
        verbose_name=_("contact"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notification_endpoints",
    )
    channel = models.CharField(_("channel"), max_length=10, choices=ChannelKind.choices)
    address = models.CharField(
        _("address"), max_length=500, help_text=_("Email address, WeCom robot URL or webhook URL.")
    )
    secret = models.CharField(_("signing secret"), max_length=100, blank=True)
    language = models.CharField(_("language"), max_length=10, default="zh-hans")
    events = models.JSONField(_("events"), default=list, blank=True, help_text=_("Empty means every event."))
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = ScopedManager()

    class Meta:
        verbose_name = _("customer notification endpoint")
        verbose_name_plural = _("customer notification endpoints")
        ordering = ["customer", "channel", "id"]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.address}"


class MessageTemplate(models.Model):
    """An administrator's wording for one event in one language (and optionally one channel).

    Shipped defaults live in code; a row here overrides them.
    """

    event = models.CharField(_("event"), max_length=60)
    channel = models.CharField(_("channel"), max_length=10, choices=ChannelKind.choices, blank=True)
    language = models.CharField(_("language"), max_length=10)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("body"))
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["event", "language", "channel"]
        constraints = [
            models.UniqueConstraint(fields=["event", "channel", "language"], name="uq_message_template")
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.language} {self.channel or '*'}"


class OutboundMessage(models.Model):
    """One message to a customer endpoint: what was sent, and how each attempt went."""

    scope_owner_field = "endpoint__customer__owner"
    scope_unit_field = "endpoint__customer__org_unit"

    endpoint = models.ForeignKey(
        NotificationEndpoint, verbose_name=_("endpoint"), on_delete=models.CASCADE, related_name="messages"
    )
    event = models.CharField(_("event"), max_length=60)
    subject_type = models.CharField(_("about"), max_length=60, blank=True)
    subject_id = models.BigIntegerField(_("record"), null=True, blank=True)
    language = models.CharField(_("language"), max_length=10)
    title = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("body"))
    status = models.CharField(
        _("status"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    objects = ScopedManager()

    class Meta:
        verbose_name = _("customer message")
        verbose_name_plural = _("customer messages")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["subject_type", "subject_id"]),
        ]

    def __str__(self) -> str:
        return self.title


class WebhookAttempt(models.Model):
    """One try at sending a webhook delivery: when, what the receiver answered, how long it took."""

    delivery = models.ForeignKey(
        WebhookDelivery, verbose_name=_("delivery"), on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveSmallIntegerField(_("attempt"))
    at = models.DateTimeField(_("at"))
    status_code = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    error = models.TextField(
        _("error"), blank=True, help_text=_("The network error or the response excerpt.")
    )
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)

    class Meta:
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="uq_webhook_attempt")]

    def __str__(self) -> str:
        return f"{self.delivery_id}#{self.number}"
