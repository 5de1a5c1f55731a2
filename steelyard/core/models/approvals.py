from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from steelyard.core.scopes import ScopedManager


class ApprovalStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Cancelled")


class ApprovalDecision(models.TextChoices):
    APPROVE = "approve", _("Approve")
    REJECT = "reject", _("Reject")


class ApprovalRoute(models.Model):
    """How requests of one kind are routed: an ordered list of steps, edited by administrators.

    ``steps`` is a list such as ``[{"type": "manager", "level": 1}, {"type": "role", "role": "finance"}]``:
    ``manager`` walks up the requester's reporting line ``level`` times; ``role`` asks anyone holding that
    role within the requester's org subtree (nearest unit first), falling back to anyone with the role.
    """

    kind = models.CharField(_("request kind"), max_length=60, unique=True)
    name = models.CharField(_("name"), max_length=120)
    steps = models.JSONField(_("steps"), default=list)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("approval route")
        verbose_name_plural = _("approval routes")
        ordering = ["kind"]

    def __str__(self) -> str:
        return self.name


class ApprovalRequest(models.Model):
    """A request for somebody to approve a change to a record (discount, credit, tier, claim...).

    The requesting module registers the ``kind`` with hooks that run when the request is decided.
    """

    scope_owner_field = "requester"
    scope_unit_field = "requester__org_unit"
    scope_extra_distinct = True

    kind = models.CharField(_("kind"), max_length=60, db_index=True)
    title = models.CharField(_("title"), max_length=200)
    content_type = models.ForeignKey(ContentType, verbose_name=_("subject type"), on_delete=models.PROTECT)
    object_id = models.CharField(_("subject id"), max_length=64)
    subject = GenericForeignKey("content_type", "object_id")
    requested_change = models.JSONField(_("requested change"), default=dict, blank=True)
    reason = models.TextField(_("reason"))
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.PROTECT,
        related_name="approval_requests",
    )
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=ApprovalStatus.choices,
        default=ApprovalStatus.PENDING,
        db_index=True,
    )
    current_step = models.PositiveSmallIntegerField(_("current step"), default=0)
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True, db_index=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    outcome_note = models.TextField(_("outcome"), blank=True)

    objects = ScopedManager()

    class Meta:
        verbose_name = _("approval request")
        verbose_name_plural = _("approval requests")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_id"])]

    def __str__(self) -> str:
        return self.title

    @classmethod
    def scope_extra_q(cls, user, action):  # type: ignore[no-untyped-def]
        # Approvers see what they are asked to decide, whatever their scope.
        return Q(steps__approver=user.pk)


class ApprovalStep(models.Model):
    """One approver's turn in a request, in order."""

    request = models.ForeignKey(
        ApprovalRequest, verbose_name=_("request"), on_delete=models.CASCADE, related_name="steps"
    )
    order = models.PositiveSmallIntegerField(_("order"))
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("approver"),
        on_delete=models.PROTECT,
        related_name="approval_steps",
    )
    rule = models.JSONField(_("routing rule"), default=dict, blank=True)
    decision = models.CharField(_("decision"), max_length=10, choices=ApprovalDecision.choices, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        verbose_name = _("approval step")
        verbose_name_plural = _("approval steps")
        ordering = ["request", "order"]
        constraints = [models.UniqueConstraint(fields=["request", "order"], name="uq_approval_step_order")]
        indexes = [models.Index(fields=["approver", "decision"])]

    def __str__(self) -> str:
        return f"{self.request} #{self.order} {self.approver}"


class ApprovalEvent(models.Model):
    """History of a request: requested, commented, approved, rejected, cancelled."""

    request = models.ForeignKey(
        ApprovalRequest, verbose_name=_("request"), on_delete=models.CASCADE, related_name="events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("who"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    event = models.CharField(_("event"), max_length=20)
    comment = models.TextField(_("comment"), blank=True)
    at = models.DateTimeField(_("when"), auto_now_add=True)

    class Meta:
        verbose_name = _("approval event")
        verbose_name_plural = _("approval events")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.request} {self.event}"
