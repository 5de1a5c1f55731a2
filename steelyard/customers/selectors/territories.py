"""Reads for territories and reassignment: which territories and people a user may work with."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from steelyard.core.scopes import Scope, user_scope
from steelyard.customers.models import Territory
from steelyard.org.models import User


def territory_list(*, user: Any, filters: dict[str, Any] | None = None) -> QuerySet[Territory]:
    """Territories ``user`` may see: all for scope "all"; otherwise those of their unit's subtree.

    A territory belongs to the subtree of its team (``org_unit``) or, without a team, of its owner.
    """
    scope = user_scope(user)
    qs = Territory.objects.all()
    if scope is None:
        return qs.none()
    if scope != Scope.ALL:
        if not user.org_unit_id:
            return qs.none()
        path = user.org_unit.path
        qs = qs.filter(
            Q(org_unit__path__startswith=path)
            | Q(org_unit__isnull=True, owner__org_unit__path__startswith=path)
            | Q(owner=user)
        )
    qs = qs.select_related("owner", "org_unit", "parent", "pool").annotate(
        member_count=Count("members", distinct=True)
    )
    filters = filters or {}
    if filters.get("q"):
        q = filters["q"]
        qs = qs.filter(Q(name__icontains=q) | Q(code__icontains=q))
    if filters.get("strategy"):
        qs = qs.filter(strategy=filters["strategy"])
    if filters.get("active") in ("1", "0"):
        qs = qs.filter(is_active=filters["active"] == "1")
    return qs


def territory_tree_order(territories: list[Territory]) -> list[Territory]:
    """The territories in tree order (each parent before its children), each tagged with ``depth``.

    Works on the page already loaded; a child whose parent is not in the list starts at depth 0.
    """
    by_parent: dict[int | None, list[Territory]] = {}
    ids = {t.pk for t in territories}
    for t in territories:
        by_parent.setdefault(t.parent_id if t.parent_id in ids else None, []).append(t)
    out: list[Territory] = []

    def walk(parent: int | None, depth: int) -> None:
        for t in by_parent.get(parent, []):
            t.depth = depth  # type: ignore[attr-defined]
            out.append(t)
            walk(t.pk, depth + 1)

    walk(None, 0)
    return out


def reassign_user_choices(*, user: Any) -> QuerySet[User]:
    """Active people ``user`` can see: candidates for reassignment."""
    return (
        User.objects.visible_to(user)
        .filter(is_active=True, is_machine=False)
        .only("id", "username", "display_name", "first_name", "last_name", "manager_id", "org_unit_id")
        .order_by("display_name", "username")
    )
