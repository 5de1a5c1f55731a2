"""Reads for the integration console: systems with their health, tokens, batches and results.

Everything here is for administrators (others get ``PermissionDenied``). The console's numbers are
computed by the database: per-system figures are correlated subqueries of one query, the other
areas' tiles one GROUP BY each.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, IntegerField, Min, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404
from django.utils import timezone

from steelyard.core.models import ApiToken
from steelyard.integrations.forms import BatchFilter
from steelyard.integrations.models import (
    DeliveryStatus,
    ExternalSystem,
    FileImport,
    FileImportStatus,
    InboundBatch,
    InboundResult,
    OutboundMessage,
    WebhookDelivery,
)
from steelyard.integrations.services.systems import require_admin

REJECTED_WINDOW = dt.timedelta(hours=24)
TOKEN_WARNING_DAYS = 30
RECENT_BATCHES = 10


# --- systems ------------------------------------------------------------------------------------


def _active_tokens(now: dt.datetime) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=OuterRef("user_id"), revoked_at__isnull=True, expires_at__gt=now)


def system_base(*, user: Any) -> QuerySet[ExternalSystem]:
    require_admin(user)
    return ExternalSystem.objects.select_related("user")


def system_list(*, user: Any, now: dt.datetime | None = None) -> QuerySet[ExternalSystem]:
    """Every system, annotated with its last batch, rejections in the last 24 h and token health."""
    now = now or timezone.now()
    batches = InboundBatch.objects.filter(system=OuterRef("pk"))
    rejected = (
        batches.filter(received_at__gte=now - REJECTED_WINDOW)
        .order_by()
        .values("system")
        .annotate(s=Sum("rejected"))
        .values("s")
    )
    tokens = _active_tokens(now).order_by().values("user")
    return system_base(user=user).annotate(
        last_batch_id=Subquery(batches.order_by("-received_at", "-id").values("id")[:1]),
        rejected_24h=Coalesce(Subquery(rejected, output_field=IntegerField()), 0),
        active_tokens=Coalesce(
            Subquery(tokens.annotate(n=Count("id")).values("n"), output_field=IntegerField()), 0
        ),
        token_expires_at=Subquery(tokens.annotate(m=Min("expires_at")).values("m")),
    )


def system_get(*, user: Any, pk: int) -> ExternalSystem:
    return get_object_or_404(system_base(user=user), pk=pk)


def token_expiry_warning(system: ExternalSystem, *, now: dt.datetime | None = None) -> str:
    """ "none" (no active token), "soon" (the soonest expires within 30 days) or ""."""
    now = now or timezone.now()
    if not getattr(system, "active_tokens", 0):
        return "none"
    expires = getattr(system, "token_expires_at", None)
    if expires is not None and expires - now <= dt.timedelta(days=TOKEN_WARNING_DAYS):
        return "soon"
    return ""


def system_tokens(*, user: Any, system: ExternalSystem) -> QuerySet[ApiToken]:
    require_admin(user)
    if system.user_id is None:
        return ApiToken.objects.none()
    return ApiToken.objects.visible_to(user).filter(user_id=system.user_id).order_by("-created_at", "-id")


# --- the console home ---------------------------------------------------------------------------


@dataclass
class SystemCard:
    system: ExternalSystem
    last_batch: InboundBatch | None
    rejected_24h: int
    active_tokens: int
    token_expires_at: dt.datetime | None
    token_warning: str


@dataclass
class ConsoleSummary:
    cards: list[SystemCard]
    webhooks: dict[str, int] = field(default_factory=dict)
    messages: dict[str, int] = field(default_factory=dict)
    imports: dict[str, int] = field(default_factory=dict)


def _status_counts(qs: QuerySet, statuses: list[str]) -> dict[str, int]:
    rows = qs.filter(status__in=statuses).order_by().values("status").annotate(n=Count("id"))
    counts = dict.fromkeys(statuses, 0)
    counts.update({r["status"]: r["n"] for r in rows})
    return counts


def console_summary(*, user: Any) -> ConsoleSummary:
    """The console home: a card per system, and the webhook / message / import tiles' counts."""
    now = timezone.now()
    systems = list(system_list(user=user, now=now))
    ids = [s.last_batch_id for s in systems if s.last_batch_id]
    last = InboundBatch.objects.in_bulk(ids) if ids else {}
    cards = [
        SystemCard(
            system=s,
            last_batch=last.get(s.last_batch_id),
            rejected_24h=s.rejected_24h,
            active_tokens=s.active_tokens,
            token_expires_at=s.token_expires_at,
            token_warning=token_expiry_warning(s, now=now),
        )
        for s in systems
    ]
    webhooks = _status_counts(
        WebhookDelivery.objects.all(),
        [DeliveryStatus.PENDING, DeliveryStatus.RETRYING, DeliveryStatus.FAILED],
    )
    messages = _status_counts(
        OutboundMessage.objects.visible_to(user),
        [DeliveryStatus.PENDING, DeliveryStatus.RETRYING, DeliveryStatus.FAILED],
    )
    imports = _status_counts(
        FileImport.objects.visible_to(user),
        [FileImportStatus.QUEUED, FileImportStatus.RUNNING, FileImportStatus.FAILED],
    )
    return ConsoleSummary(cards=cards, webhooks=webhooks, messages=messages, imports=imports)


# --- batches ------------------------------------------------------------------------------------


def batch_base(*, user: Any) -> QuerySet[InboundBatch]:
    require_admin(user)
    return InboundBatch.objects.select_related("system", "actor")


def batch_list(
    *, user: Any, filters: Any = None, system: ExternalSystem | None = None
) -> QuerySet[InboundBatch]:
    """Batches narrowed by :class:`BatchFilter` (bound to ``filters``), newest first by default."""
    qs = batch_base(user=user)
    if system is not None:
        qs = qs.filter(system=system)
    f = BatchFilter(filters or {}, user=user, with_system=system is None)
    return f.apply(qs)


def batch_get(*, user: Any, pk: int) -> InboundBatch:
    return get_object_or_404(batch_base(user=user), pk=pk)


def batch_results(*, user: Any, batch: InboundBatch, outcome: str = "") -> QuerySet[InboundResult]:
    require_admin(user)
    qs = InboundResult.objects.filter(batch=batch)
    if outcome:
        qs = qs.filter(outcome=outcome)
    return qs.order_by("position", "id")


def batch_outcome_counts(*, user: Any, batch: InboundBatch) -> dict[str, int]:
    """Results kept per outcome (API batches keep all; file batches keep only rejections)."""
    require_admin(user)
    rows = InboundResult.objects.filter(batch=batch).order_by().values("outcome").annotate(n=Count("id"))
    return {r["outcome"]: r["n"] for r in rows}


def system_recent_batches(
    *, user: Any, system: ExternalSystem, limit: int = RECENT_BATCHES
) -> list[InboundBatch]:
    return list(batch_base(user=user).filter(system=system).order_by("-received_at", "-id")[:limit])


def system_batch_stats(*, user: Any, system: ExternalSystem) -> dict[str, int]:
    """Totals over the last 24 hours for one system, in one query."""
    require_admin(user)
    since = timezone.now() - REJECTED_WINDOW
    agg = InboundBatch.objects.filter(system=system, received_at__gte=since).aggregate(
        n_batches=Count("id"),
        n_records=Coalesce(Sum("total"), 0),
        n_rejected=Coalesce(Sum("rejected"), 0),
        n_with_rejections=Count("id", filter=Q(rejected__gt=0)),
    )
    return {
        "batches": agg["n_batches"],
        "records": agg["n_records"],
        "rejected": agg["n_rejected"],
        "with_rejections": agg["n_with_rejections"],
    }
