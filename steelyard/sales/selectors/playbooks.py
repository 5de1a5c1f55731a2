"""Reading playbooks: which version a new opportunity starts on, and a version with its stages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Prefetch, QuerySet

from steelyard.catalog.models import ProductLine
from steelyard.sales.models import (
    Opportunity,
    OpportunityStatus,
    Playbook,
    PlaybookItem,
    PlaybookStage,
    PlaybookStatus,
)


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


# --- the playbook screens and API -----------------------------------------------------------------------


def _may_see_drafts(user: Any) -> bool:
    from steelyard.sales.services.playbooks import can_edit_playbooks

    return can_edit_playbooks(user)


def playbook_list(*, user: Any) -> QuerySet[Playbook]:
    """Every playbook version the user may read (drafts only for their editors), with its line and its
    number of stages and checklist items."""
    return (
        _visible(user)
        .select_related("product_line")
        .annotate(
            stage_count=Count("stages", distinct=True), item_count=Count("stages__items", distinct=True)
        )
    )


def _visible(user: Any) -> QuerySet[Playbook]:
    qs = Playbook.objects.all()
    if not _may_see_drafts(user):
        qs = qs.exclude(status=PlaybookStatus.DRAFT)
    return qs


def versions_of(*, user: Any, line_id: int | None) -> list[Playbook]:
    """Every version of one line's playbook (None: of the default) the user may read, newest first."""
    qs = _visible(user)
    qs = qs.filter(product_line__isnull=True) if line_id is None else qs.filter(product_line_id=line_id)
    return list(qs.order_by("-version"))


def playbook_get(*, user: Any, pk: Any) -> Playbook | None:
    """A version with its stages and items (in order), or None when it does not exist or is a draft the
    user may not see."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        return None
    if not _visible(user).filter(pk=pk).exists():
        return None
    return playbook_with_stages(pk)


def open_counts(*, user: Any, playbook_ids: list[int]) -> dict[int, int]:
    """Open opportunities per playbook version, counted over those the user can see (one GROUP BY)."""
    if not playbook_ids:
        return {}
    rows = (
        Opportunity.objects.visible_to(user)
        .filter(status=OpportunityStatus.OPEN, playbook_id__in=playbook_ids)
        .values("playbook_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {r["playbook_id"]: r["n"] for r in rows}


def open_counts_by_stage(*, user: Any, playbook_id: int) -> dict[int, int]:
    """Open opportunities per stage of one version, counted over those the user can see."""
    rows = (
        Opportunity.objects.visible_to(user)
        .filter(status=OpportunityStatus.OPEN, playbook_id=playbook_id)
        .values("stage_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {r["stage_id"]: r["n"] for r in rows}


def lines_without_playbook() -> list[ProductLine]:
    """Active product lines with no playbook of their own (they use the default)."""
    return list(
        ProductLine.objects.filter(is_active=True)
        .exclude(pk__in=Playbook.objects.filter(product_line__isnull=False).values("product_line_id"))
        .order_by("sort_order", "code")
    )


def active_for_line(line_id: int | None) -> Playbook | None:
    """The version in force of a line (None: of the default playbook), without falling back."""
    qs = Playbook.objects.filter(status=PlaybookStatus.ACTIVE)
    qs = qs.filter(product_line__isnull=True) if line_id is None else qs.filter(product_line_id=line_id)
    return qs.first()


def migration_targets(source: Playbook) -> list[Playbook]:
    """The versions in force ``source``'s open opportunities may move onto: its line's, and for the
    default playbook every line's own."""
    qs = (
        Playbook.objects.select_related("product_line")
        .filter(status=PlaybookStatus.ACTIVE)
        .exclude(pk=source.pk)
    )
    if source.product_line_id is not None:
        qs = qs.filter(product_line_id=source.product_line_id)
    return list(qs.order_by("product_line__sort_order", "product_line_id"))


def migration_count(source: Playbook, target: Playbook) -> int:
    """How many open opportunities a move from ``source`` to ``target`` takes — all of them, whoever owns
    them (for the editors who move a whole version; the screens show it to them only)."""
    from steelyard.sales.services.playbooks import migration_scope

    return Opportunity.objects.filter(migration_scope(source, target)).count()


@dataclass
class MigrationRow:
    stage: PlaybookStage
    count: int
    target: PlaybookStage | None


def migration_preview(
    source: Playbook, target: Playbook, stage_map: dict[int, int]
) -> tuple[list[MigrationRow], int]:
    """Per open stage of ``source``: how many open opportunities would move, and to which stage of
    ``target`` (all of them, whoever owns them: the move is for the whole version). Returns the rows
    and the total."""
    from steelyard.sales.services.playbooks import migration_scope

    counts = dict(
        Opportunity.objects.filter(migration_scope(source, target))
        .values("stage_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("stage_id", "n")
    )
    targets = {s.pk: s for s in PlaybookStage.objects.filter(playbook=target)}
    rows = [
        MigrationRow(stage=s, count=counts.get(s.pk, 0), target=targets.get(stage_map.get(s.pk, -1)))
        for s in PlaybookStage.objects.filter(playbook=source, is_won=False, is_lost=False).order_by("order")
    ]
    return rows, sum(counts.values())
