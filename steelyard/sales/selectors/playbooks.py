"""Reading playbooks: which version a new opportunity starts on, and a version with its stages."""

from __future__ import annotations

from django.db.models import Prefetch

from steelyard.sales.models import Playbook, PlaybookItem, PlaybookStage, PlaybookStatus


def playbook_for(product_line_id: int | None) -> Playbook | None:
    """The active playbook of the line, else the active default playbook (no line), else None."""
    active = Playbook.objects.filter(status=PlaybookStatus.ACTIVE)
    if product_line_id is not None:
        own = active.filter(product_line_id=product_line_id).first()
        if own is not None:
            return own
    return active.filter(product_line__isnull=True).first()


def playbook_with_stages(playbook_id: int) -> Playbook:
    """A playbook with ``stages`` (in order) and each stage's ``items`` prefetched (3 queries)."""
    return (
        Playbook.objects.select_related("product_line")
        .prefetch_related(
            Prefetch(
                "stages",
                queryset=PlaybookStage.objects.order_by("order").prefetch_related(
                    Prefetch("items", queryset=PlaybookItem.objects.order_by("order", "id"))
                ),
            )
        )
        .get(pk=playbook_id)
    )
