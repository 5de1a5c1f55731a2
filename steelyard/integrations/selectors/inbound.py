"""Reading inbound batches and their results.

A batch is seen by its system's own machine user and by administrators; nobody else (the API
answers 403 to others before asking, and 404 for a batch outside what the caller may see).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from steelyard.core.access import ADMINISTRATOR, user_has_role
from steelyard.integrations.models import ExternalSystem, InboundBatch, InboundResult


def sending_system(user: Any) -> ExternalSystem | None:
    """The active external system whose machine user ``user`` is (None for people)."""
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_machine", False):
        return None
    return ExternalSystem.objects.filter(user=user, is_active=True).first()


def may_read_batches(user: Any) -> bool:
    return user_has_role(user, ADMINISTRATOR) or sending_system(user) is not None


def inbound_batch_list(*, user: Any, filters: dict[str, Any] | None = None) -> QuerySet[InboundBatch]:
    """The batches ``user`` may see, newest first; ``filters``: system (code), entity, via."""
    qs = InboundBatch.objects.select_related("system")
    if not user_has_role(user, ADMINISTRATOR):
        system = sending_system(user)
        if system is None:
            return qs.none()
        qs = qs.filter(system=system)
    filters = filters or {}
    if filters.get("system"):
        qs = qs.filter(system__code=filters["system"])
    if filters.get("entity"):
        qs = qs.filter(entity=filters["entity"])
    if filters.get("via"):
        qs = qs.filter(via=filters["via"])
    return qs.order_by("-received_at", "-id")


def inbound_batch_get(*, user: Any, pk: int) -> InboundBatch | None:
    return inbound_batch_list(user=user).filter(pk=pk).first()


def inbound_result_list(*, batch: InboundBatch, outcome: str | None = None) -> QuerySet[InboundResult]:
    qs = InboundResult.objects.filter(batch=batch)
    if outcome:
        qs = qs.filter(outcome=outcome)
    return qs.order_by("position", "id")
