"""Reading the forecast: monthly figures and roll-ups from ``ForecastCell``, the org-tree roll-up, managers'
adjustments beside the system figures, snapshots, forecast accuracy and recalibrated stage probabilities.

The forecast page never reads opportunities: it reads the cells (``ForecastCell``, kept by
``services.forecast``), scoped with ``ForecastCell.objects.visible_to(user)`` — a rep sees their own
figures, a manager the team's, a director the subtree's — in **one GROUP BY** per (org unit, owner, month,
category). The org tree is assembled in Python from those grouped rows (hundreds of rows, not the
opportunities behind them).

Categories and figures (per close month; amounts are exact integer cents)
    ``pipeline``, ``best_case``, ``commit``: open opportunities of that category whose expected close
    date falls in the month; ``won`` / ``lost``: opportunities closed won / lost in the month (by
    ``closed_on``); ``omitted``: open opportunities the rep left out of the forecast.

    **weighted** = Σ weighted amounts of pipeline + best case + commit (amount × probability, each
    rounded to the cent) + won (a won deal counts at 100 %). Lost and omitted count nowhere.

Roll-ups (what a forecast "call" means; lost and omitted are never in a roll-up)
    - **commit forecast** = commit + won
    - **best case forecast** = best case + commit + won
    - **pipeline total** = pipeline + best case + commit + won

Org-tree roll-up
    A person's row is their cells in one unit (the deal's owning unit; a person who moved units may
    show under both). A unit's own figure is the sum of its people; its **total** is its own people plus
    every descendant unit shown, so each total is exactly the sum of the rows below it, and the grand
    total is the sum of the top-level rows (plus "no unit"). The units shown are the units of the visible
    cells and their ancestors at or below the viewer's own unit (the chosen unit when filtered; every
    ancestor for viewers who see everything).

Adjustments (``ForecastAdjustment``)
    A manager's own figure for a person's or a unit's month and one of the three roll-ups (category
    ``commit`` = the commit forecast, ``best_case`` = the best case forecast, ``pipeline`` = the pipeline
    total). The **latest** row per (subject, month, category) the viewer can see is in force; earlier
    ones are history. The viewer sees their own adjustments and those of the people below them
    (``ForecastAdjustment.objects.visible_to``: scoped by author), never those of the managers above.

    **Adjusted roll-up**: a person's adjusted figure is the adjustment in force for them, else their
    system figure (a person's adjustment applies to their row under their own primary unit); a unit's
    adjusted figure is the adjustment in force for that unit, else the sum of its children's adjusted
    (or system) figures — its people and its child units; the grand total is the sum of the top-level
    rows. With no adjustment the adjusted figure equals the system figure everywhere.

Accuracy: see :func:`forecast_accuracy`. Recalibrated probabilities: see :func:`forecast_calibration`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from dateutil.relativedelta import relativedelta
from django.db import connections
from django.db.models import BigIntegerField, Count, Q, QuerySet, Sum
from django.db.models.functions import Cast
from django.http import Http404
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from steelyard.catalog.models import ProductLine
from steelyard.core.access import user_has_role
from steelyard.core.scopes import Scope, user_scope
from steelyard.org.models import OrgUnit, User, path_prefixes
from steelyard.org.roles import EXECUTIVE, SALES_DIRECTOR, SALES_MANAGER
from steelyard.sales.models import (
    ForecastAdjustment,
    ForecastCategory,
    ForecastCell,
    ForecastSnapshot,
    ForecastSnapshotRow,
    Opportunity,
    OpportunityStatus,
    PlaybookStage,
    StageVisit,
)
from steelyard.sales.selectors.playbooks import playbook_for

C = ForecastCategory
DEFAULT_MONTHS = 6
MAX_MONTHS = 12
DEFAULT_ACCURACY_MONTHS = 6
DEFAULT_CLOSED_MONTHS = 24

NOW = "now"
THEN = "then"
FORECAST = "forecast"
ACTUAL = "actual"

# --- measures ---------------------------------------------------------------------------------

RAW_CATEGORIES = (C.PIPELINE, C.BEST_CASE, C.COMMIT, C.CLOSED_WON, C.CLOSED_LOST, C.OMITTED)
WEIGHTED = "weighted"
COMMIT_ROLLUP = "commit_rollup"
BEST_CASE_ROLLUP = "best_case_rollup"
PIPELINE_ROLLUP = "pipeline_rollup"
WEIGHTED_PARTS = (C.PIPELINE, C.BEST_CASE, C.COMMIT, C.CLOSED_WON)

#: measure → the raw categories whose amounts it adds up (``weighted`` adds weighted amounts instead).
MEASURE_PARTS: dict[str, tuple[str, ...]] = {
    C.PIPELINE: (C.PIPELINE,),
    C.BEST_CASE: (C.BEST_CASE,),
    C.COMMIT: (C.COMMIT,),
    C.CLOSED_WON: (C.CLOSED_WON,),
    C.CLOSED_LOST: (C.CLOSED_LOST,),
    C.OMITTED: (C.OMITTED,),
    WEIGHTED: WEIGHTED_PARTS,
    COMMIT_ROLLUP: (C.COMMIT, C.CLOSED_WON),
    BEST_CASE_ROLLUP: (C.BEST_CASE, C.COMMIT, C.CLOSED_WON),
    PIPELINE_ROLLUP: (C.PIPELINE, C.BEST_CASE, C.COMMIT, C.CLOSED_WON),
}

MEASURE_LABELS: dict[str, Any] = {
    C.PIPELINE: _("Pipeline"),
    C.BEST_CASE: _("Best case"),
    C.COMMIT: _("Commit"),
    C.CLOSED_WON: _("Closed won"),
    C.CLOSED_LOST: _("Closed lost"),
    C.OMITTED: _("Omitted"),
    WEIGHTED: _("Weighted"),
    COMMIT_ROLLUP: _("Commit forecast"),
    BEST_CASE_ROLLUP: _("Best case forecast"),
    PIPELINE_ROLLUP: _("Pipeline total"),
}
MEASURE_HELP: dict[str, Any] = {
    WEIGHTED: _("pipeline, best case and commit × probability, plus won"),
    COMMIT_ROLLUP: _("commit + won"),
    BEST_CASE_ROLLUP: _("best case + commit + won"),
    PIPELINE_ROLLUP: _("pipeline + best case + commit + won"),
}
#: The rows of the summary table, in order.
SUMMARY_MEASURES = (
    C.PIPELINE,
    C.BEST_CASE,
    C.COMMIT,
    C.CLOSED_WON,
    C.CLOSED_LOST,
    C.OMITTED,
    WEIGHTED,
    COMMIT_ROLLUP,
    BEST_CASE_ROLLUP,
    PIPELINE_ROLLUP,
)
TREE_MEASURE_CHOICES = [
    (COMMIT_ROLLUP, _("Commit forecast (commit + won)")),
    (BEST_CASE_ROLLUP, _("Best case forecast (best case + commit + won)")),
    (PIPELINE_ROLLUP, _("Pipeline total (pipeline + best case + commit + won)")),
    (WEIGHTED, _("Weighted")),
    (C.CLOSED_WON, _("Closed won")),
    (C.COMMIT, _("Commit")),
    (C.BEST_CASE, _("Best case")),
    (C.PIPELINE, _("Pipeline")),
    (C.CLOSED_LOST, _("Closed lost")),
]
DEFAULT_MEASURE = COMMIT_ROLLUP

#: Adjustment category → the roll-up it replaces.
ADJUSTED_MEASURE: dict[str, str] = {
    C.COMMIT: COMMIT_ROLLUP,
    C.BEST_CASE: BEST_CASE_ROLLUP,
    C.PIPELINE: PIPELINE_ROLLUP,
}
ADJUSTMENT_FOR_MEASURE: dict[str, str] = {v: k for k, v in ADJUSTED_MEASURE.items()}
ADJUSTABLE = (C.COMMIT, C.BEST_CASE, C.PIPELINE)
ADJUSTABLE_CHOICES = [
    (C.COMMIT, _("Commit forecast")),
    (C.BEST_CASE, _("Best case forecast")),
    (C.PIPELINE, _("Pipeline total")),
]
ADJUSTER_ROLES = (SALES_MANAGER, SALES_DIRECTOR, EXECUTIVE)

BASIS_COMMIT = "commit"
BASIS_WEIGHTED = "weighted"

ERR_SUBJECT = _("Choose a person or an org unit.")
LABEL_NO_UNIT = _("No org unit")

# --- months -----------------------------------------------------------------------------------


def add_months(month: dt.date, n: int) -> dt.date:
    return month.replace(day=1) + relativedelta(months=n)


def month_range(start: dt.date, n: int) -> list[dt.date]:
    n = max(1, min(int(n), MAX_MONTHS))
    first = start.replace(day=1)
    return [add_months(first, i) for i in range(n)]


def month_end(month: dt.date) -> dt.date:
    return add_months(month, 1) - dt.timedelta(days=1)


def month_start_at(month: dt.date) -> dt.datetime:
    """Local midnight on the first day of ``month`` (when that month began, in the company's time zone)."""
    return timezone.make_aware(dt.datetime.combine(month.replace(day=1), dt.time.min))


@dataclass(frozen=True)
class ForecastQuery:
    """What the forecast shows: these close months, one product line (None: all), one unit's subtree."""

    months: list[dt.date]
    product_line_id: int | None = None
    unit: OrgUnit | None = None


# --- sums -------------------------------------------------------------------------------------


class Sums:
    """``[count, amount cents, weighted cents]`` per (month, category); exact integers."""

    __slots__ = ("cells",)

    def __init__(self) -> None:
        self.cells: dict[tuple[dt.date, str], list[int]] = {}

    def add_row(self, month: dt.date, category: str, count: int, amount: int, weighted: int) -> None:
        cell = self.cells.get((month, category))
        if cell is None:
            self.cells[(month, category)] = [int(count), int(amount), int(weighted)]
        else:
            cell[0] += int(count)
            cell[1] += int(amount)
            cell[2] += int(weighted)

    def add(self, other: Sums) -> None:
        for (month, category), (count, amount, weighted) in other.cells.items():
            self.add_row(month, category, count, amount, weighted)

    def _cells(self, month: dt.date | None, parts: Iterable[str]) -> Iterator[list[int]]:
        if month is not None:
            for part in parts:
                cell = self.cells.get((month, part))
                if cell is not None:
                    yield cell
        else:
            wanted = set(parts)
            for (_m, category), cell in self.cells.items():
                if category in wanted:
                    yield cell

    def amount(self, month: dt.date | None, measure: str) -> int:
        """The measure's amount in cents (``month`` None: every month held)."""
        index = 2 if measure == WEIGHTED else 1
        return sum(c[index] for c in self._cells(month, MEASURE_PARTS[measure]))

    def count(self, month: dt.date | None, measure: str) -> int:
        return sum(c[0] for c in self._cells(month, MEASURE_PARTS[measure]))

    def __bool__(self) -> bool:
        return any(any(v) for v in self.cells.values())


def cents_to_money(value: int | None) -> Decimal | None:
    return None if value is None else (Decimal(value) / 100).quantize(Decimal("0.01"))


def money_to_cents(value: Decimal) -> int:
    return int((Decimal(value) * 100).quantize(Decimal(1), ROUND_HALF_UP))


# --- the tree ---------------------------------------------------------------------------------

UNIT = "unit"
PERSON = "person"
NO_UNIT = "none"
TOTAL = "total"


@dataclass(eq=False)
class Node:
    """A row of the roll-up tree: a unit, a person within a unit, "no unit", or the grand total."""

    kind: str
    key: str
    name: str
    unit_id: int | None = None
    user_id: int | None = None
    path: str = ""
    parent: Node | None = None
    depth: int = 0
    children: list[Node] = field(default_factory=list)
    sums: dict[str, Sums] = field(default_factory=dict)
    #: (month, adjustment category) → adjustment in force on this very node.
    adjustment: dict[tuple[dt.date, str], ForecastAdjustment] = field(default_factory=dict)
    #: (month, adjustment category) → adjusted figure in cents (adjustment, else the children's).
    adjusted: dict[tuple[dt.date, str], int] = field(default_factory=dict)
    adjustable: bool = False
    #: the person's primary unit (where their own adjustment applies)
    home_unit_id: int | None = None

    def s(self, source: str = NOW) -> Sums:
        sums = self.sums.get(source)
        if sums is None:
            sums = self.sums[source] = Sums()
        return sums

    def value(self, month: dt.date | None, measure: str, source: str = NOW) -> int:
        return self.s(source).amount(month, measure)

    def adjusted_value(self, month: dt.date | None, category: str, months: list[dt.date]) -> int:
        if month is not None:
            return self.adjusted.get((month, category), self.value(month, ADJUSTED_MEASURE[category]))
        return sum(self.adjusted_value(m, category, months) for m in months)

    def is_adjusted(self, month: dt.date | None, category: str, months: list[dt.date]) -> bool:
        """True when the adjusted figure differs from the system figure or an adjustment is in force."""
        ms = [month] if month is not None else months
        return any(
            (m, category) in self.adjustment
            or self.adjusted_value(m, category, months) != self.value(m, ADJUSTED_MEASURE[category])
            for m in ms
        )

    @property
    def has_children(self) -> bool:
        return bool(self.children)

    @property
    def subject(self) -> str | None:
        """The adjustment subject key of this node (``user:<id>`` / ``unit:<id>``), if any."""
        if self.kind == UNIT:
            return f"unit:{self.unit_id}"
        if self.kind == PERSON:
            return f"user:{self.user_id}"
        return None

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass
class Tree:
    months: list[dt.date]
    roots: list[Node]
    total: Node
    nodes: dict[str, Node]
    show_adjusted: bool = False
    can_adjust: bool = False

    def rows(self) -> list[Node]:
        """Every node below the total, depth first (units, then the people of each unit)."""
        out: list[Node] = []
        for root in self.roots:
            out.extend(root.walk())
        return out

    def people(self) -> list[Node]:
        return [n for n in self.rows() if n.kind == PERSON]


def _unit_filter(qs: QuerySet, unit: OrgUnit) -> QuerySet:
    return qs.filter(org_unit_id__in=OrgUnit.objects.filter(path__startswith=unit.path).values("pk"))


Within = OrgUnit | str | None  # a unit's subtree, NO_UNIT ("none": cells without a unit), or everything


def _grouped(qs: QuerySet) -> list[tuple]:
    """The rows grouped per (unit, owner, month, category), read straight from the cursor: thousands of
    rows for a director, so Django's per-value converters are skipped (the sums are cast to integers in
    SQL — PostgreSQL would sum bigints into numerics — and the few distinct months are parsed once)."""
    qs = (
        qs.values_list("org_unit_id", "owner_id", "month", "category")
        .annotate(
            c=Cast(Sum("count"), BigIntegerField()),
            a=Cast(Sum("amount_cents"), BigIntegerField()),
            w=Cast(Sum("weighted_cents"), BigIntegerField()),
        )
        .order_by()
    )
    sql, params = qs.query.sql_with_params()
    with connections[qs.db].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    months: dict[Any, dt.date] = {}
    out = []
    for unit_id, owner_id, month, category, count, amount, weighted in rows:
        day = months.get(month)
        if day is None:
            day = months[month] = (
                month if isinstance(month, dt.date) else dt.date.fromisoformat(str(month)[:10])
            )
        out.append((unit_id, owner_id, day, category, count or 0, amount or 0, weighted or 0))
    return out


def _narrow(qs: QuerySet, q: ForecastQuery, within: Within) -> QuerySet:
    if q.product_line_id:
        qs = qs.filter(product_line_id=q.product_line_id)
    if q.unit is not None:
        qs = _unit_filter(qs, q.unit)
    if isinstance(within, OrgUnit):
        qs = _unit_filter(qs, within)
    elif within == NO_UNIT:
        qs = qs.filter(org_unit__isnull=True)
    return qs


def forecast_rows(user: Any, q: ForecastQuery, *, within: Within = None) -> list[tuple]:
    """``(unit_id, owner_id, month, category, count, amount cents, weighted cents)`` of the visible cells."""
    qs = ForecastCell.objects.visible_to(user).filter(month__gte=q.months[0], month__lte=q.months[-1])
    return _grouped(_narrow(qs, q, within))


def snapshot_rows(
    user: Any, snapshot: ForecastSnapshot, q: ForecastQuery, *, within: Within = None
) -> list[tuple]:
    """The same grouped rows from a snapshot's copies of the cells (scoped like the cells)."""
    qs = ForecastSnapshotRow.objects.visible_to(user).filter(  # type: ignore[attr-defined]
        snapshot_id=snapshot.pk, month__gte=q.months[0], month__lte=q.months[-1]
    )
    return _grouped(_narrow(qs, q, within))


def _anchor(user: Any, q: ForecastQuery) -> str | None:
    """Ancestors of the cells' units are shown at or below this path ("" = all; None = none)."""
    if q.unit is not None:
        return q.unit.path
    if user_scope(user) == Scope.ALL:
        return ""
    if getattr(user, "org_unit_id", None):
        return user.org_unit.path
    return None


def build_tree(
    user: Any,
    q: ForecastQuery,
    sources: dict[str, list[tuple]],
    *,
    adjustments: bool = False,
) -> Tree:
    """Assemble the roll-up tree from grouped rows of one or more sources (``now``, ``then``, ...)."""
    unit_ids: set[int] = set()
    owner_ids: set[int] = set()
    for rows in sources.values():
        for r in rows:
            if r[0]:
                unit_ids.add(r[0])
            owner_ids.add(r[1])
    units: dict[int, Any] = (
        {u.pk: u for u in OrgUnit.objects.filter(pk__in=unit_ids).only("id", "name", "path", "depth")}
        if unit_ids
        else {}
    )
    anchor = _anchor(user, q)
    if anchor is not None and units:
        have = {u.path for u in units.values()}
        wanted = {
            p
            for u in units.values()
            for p in path_prefixes(u.path)[:-1]
            if p.startswith(anchor) and p not in have
        }
        if wanted:
            for u in OrgUnit.objects.filter(path__in=wanted).only("id", "name", "path", "depth"):
                units[u.pk] = u
    people = (
        {
            u["id"]: u
            for u in User.objects.filter(pk__in=owner_ids).values(
                "id", "username", "display_name", "first_name", "last_name", "org_unit_id"
            )
        }
        if owner_ids
        else {}
    )

    nodes: dict[str, Node] = {}
    by_path: dict[str, Node] = {}
    for u in sorted(units.values(), key=lambda u: u.path):
        node = Node(UNIT, f"u{u.pk}", u.name, unit_id=u.pk, path=u.path)
        nodes[node.key] = by_path[u.path] = node
    for node in by_path.values():
        for p in reversed(path_prefixes(node.path)[:-1]):
            parent = by_path.get(p)
            if parent is not None:
                node.parent = parent
                parent.children.append(node)
                break
    none_node: Node | None = None

    def person(unit_id: int | None, owner_id: int) -> Node:
        nonlocal none_node
        key = f"p{unit_id or 0}-{owner_id}"
        node = nodes.get(key)
        if node is not None:
            return node
        info = people.get(owner_id) or {"id": owner_id, "username": str(owner_id)}
        full = f"{info.get('first_name') or ''} {info.get('last_name') or ''}".strip()
        name = info.get("display_name") or full or info["username"]
        node = nodes[key] = Node(
            PERSON, key, name, unit_id=unit_id, user_id=owner_id, home_unit_id=info.get("org_unit_id")
        )
        if unit_id:
            parent = nodes[f"u{unit_id}"]
        else:
            if none_node is None:
                none_node = nodes[NO_UNIT] = Node(NO_UNIT, NO_UNIT, str(LABEL_NO_UNIT))
            parent = none_node
        node.parent = parent
        parent.children.append(node)
        return node

    for source, rows in sources.items():
        for unit_id, owner_id, month, category, count, amount, weighted in rows:
            person(unit_id, owner_id).s(source).add_row(
                month, category, count or 0, amount or 0, weighted or 0
            )

    # Order: child units by path, then the unit's people by name.
    for node in nodes.values():
        if node.children:
            node.children.sort(key=lambda n: (n.kind != UNIT, n.path if n.kind == UNIT else n.name.lower()))
    roots = [n for n in by_path.values() if n.parent is None]
    if none_node is not None:
        roots.append(none_node)

    # Totals bottom-up: people → their unit → the unit's parent ... → the grand total.
    total = Node(TOTAL, TOTAL, str(_("Total")))
    for root in roots:
        _rollup(root, sources)
        for source in sources:
            total.s(source).add(root.s(source))
    for root in roots:
        _depths(root, 0)
    tree = Tree(months=list(q.months), roots=roots, total=total, nodes=nodes)
    if adjustments:
        _apply_adjustments(user, tree)
    return tree


def _rollup(node: Node, sources: dict[str, list[tuple]]) -> None:
    for child in node.children:
        if child.kind != PERSON:
            _rollup(child, sources)
        for source in sources:
            node.s(source).add(child.s(source))


def _depths(node: Node, depth: int) -> None:
    node.depth = depth
    for child in node.children:
        _depths(child, depth + 1)


def forecast_tree(
    user: Any,
    q: ForecastQuery,
    *,
    within: Within = None,
    compare: ForecastSnapshot | None = None,
    adjustments: bool = True,
) -> Tree:
    """The roll-up tree of the visible cells (``compare``: also the snapshot's figures, source ``then``)."""
    sources = {NOW: forecast_rows(user, q, within=within)}
    if compare is not None:
        sources[THEN] = snapshot_rows(user, compare, q, within=within)
    return build_tree(user, q, sources, adjustments=adjustments)


# --- adjustments ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """Whose figure an adjustment is for: ``user`` or ``unit`` and its id."""

    kind: str
    id: int

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


def parse_subject(value: str | None) -> Subject | None:
    kind, _sep, ident = str(value or "").partition(":")
    if kind not in ("user", "unit") or not ident.isdigit():
        return None
    return Subject(kind, int(ident))


def can_adjust(user: Any) -> bool:
    """Managers, directors and executives (and administrators) with a scope wider than their own records."""
    return user_has_role(user, *ADJUSTER_ROLES) and user_scope(user) in (Scope.TEAM, Scope.SUBTREE, Scope.ALL)


def _my_path(user: Any) -> str | None:
    return user.org_unit.path if getattr(user, "org_unit_id", None) else None


def may_adjust_user(actor: Any, *, user_id: int, manager_id: int | None, unit_path: str | None) -> bool:
    """May ``actor`` adjust this person's figure? Not their own; a team manager: their reports and the
    people of their unit; a director: their reports and everyone in their subtree; scope all: anyone."""
    if not can_adjust(actor) or user_id == actor.pk:
        return False
    scope = user_scope(actor)
    if scope == Scope.ALL or manager_id == actor.pk:
        return True
    mine = _my_path(actor)
    if mine is None or unit_path is None:
        return False
    if scope == Scope.SUBTREE:
        return unit_path.startswith(mine)
    return unit_path == mine


def may_adjust_unit(actor: Any, *, unit_path: str) -> bool:
    """A team manager: their own unit; a director: their subtree; scope all: any unit."""
    if not can_adjust(actor):
        return False
    scope = user_scope(actor)
    if scope == Scope.ALL:
        return True
    mine = _my_path(actor)
    if mine is None:
        return False
    return unit_path.startswith(mine) if scope == Scope.SUBTREE else unit_path == mine


def adjustable_users(user: Any) -> QuerySet:
    """The people ``user`` may adjust (same rule as :func:`may_adjust_user`)."""
    if not can_adjust(user):
        return User.objects.none()
    qs = User.objects.filter(is_active=True, is_machine=False).exclude(pk=user.pk)
    scope = user_scope(user)
    if scope == Scope.ALL:
        return qs
    mine = _my_path(user)
    q = Q(manager_id=user.pk)
    if mine is not None:
        q |= Q(org_unit__path__startswith=mine) if scope == Scope.SUBTREE else Q(org_unit_id=user.org_unit_id)
    return qs.filter(q)


def adjustable_units(user: Any) -> QuerySet:
    if not can_adjust(user):
        return OrgUnit.objects.none()
    if user_scope(user) == Scope.ALL:
        return OrgUnit.objects.all()
    mine = _my_path(user)
    if mine is None:
        return OrgUnit.objects.none()
    if user_scope(user) == Scope.SUBTREE:
        return OrgUnit.objects.filter(path__startswith=mine)
    return OrgUnit.objects.filter(pk=user.org_unit_id)


def subject_resolve(user: Any, subject: Subject) -> Any:
    """The person or unit ``user`` may adjust, or ``Http404`` (outside their scope, or unknown)."""
    if subject.kind == "user":
        obj = adjustable_users(user).select_related("org_unit").filter(pk=subject.id).first()
    else:
        obj = adjustable_units(user).filter(pk=subject.id).first()
    if obj is None:
        raise Http404("No such person or unit in your scope.")
    return obj


def adjustment_list(user: Any) -> QuerySet:
    """The adjustments ``user`` may see: their own and those of the people below them, newest first."""
    return (
        ForecastAdjustment.objects.visible_to(user)  # type: ignore[attr-defined]
        .select_related("author", "subject_user", "subject_unit")
        .order_by("-created_at", "-id")
    )


def adjustment_history(
    user: Any, subject: Subject, month: dt.date, category: str
) -> list[ForecastAdjustment]:
    """Every visible adjustment of one subject, month and category, newest (in force) first."""
    qs = adjustment_list(user).filter(month=month.replace(day=1), category=category)
    qs = (
        qs.filter(subject_user_id=subject.id)
        if subject.kind == "user"
        else qs.filter(subject_unit_id=subject.id)
    )
    return list(qs[:50])


def _apply_adjustments(user: Any, tree: Tree) -> None:
    """Mark the adjustments in force and compute the adjusted roll-up (module docstring)."""
    tree.can_adjust = can_adjust(user)
    people = {n.user_id for n in tree.nodes.values() if n.kind == PERSON}
    units = {n.unit_id for n in tree.nodes.values() if n.kind == UNIT}
    found: dict[str, dict[tuple[dt.date, str], ForecastAdjustment]] = {}
    if user_scope(user) not in (None, Scope.OWN) and (people or units):
        qs = (
            ForecastAdjustment.objects.visible_to(user)  # type: ignore[attr-defined]
            .filter(month__in=tree.months, category__in=ADJUSTABLE)
            .filter(Q(subject_user_id__in=people) | Q(subject_unit_id__in=units))
            .select_related("author")
            .order_by("created_at", "id")
        )
        for adj in qs:
            subject = f"user:{adj.subject_user_id}" if adj.subject_user_id else f"unit:{adj.subject_unit_id}"
            found.setdefault(subject, {})[(adj.month, adj.category)] = adj  # later rows win: the latest
    tree.show_adjusted = tree.can_adjust or bool(found)
    if tree.can_adjust:
        _mark_adjustable(user, tree)
    if not tree.show_adjusted:
        return
    for node in tree.nodes.values():
        if node.kind == PERSON and node.unit_id != node.home_unit_id:
            continue  # a person's adjustment applies to their row under their own unit
        in_force = found.get(node.subject or "")
        if in_force:
            node.adjustment.update(in_force)

    def compute(node: Node) -> bool:
        """Store the adjusted figures of ``node`` if it or anything below it is adjusted. Elsewhere the
        adjusted figure *is* the system figure (``Node.adjusted_value`` falls back to it)."""
        below = [compute(child) for child in node.children]
        if not node.adjustment and not any(below):
            return False
        for month in tree.months:
            for category in ADJUSTABLE:
                adj = node.adjustment.get((month, category))
                if adj is not None:
                    value = money_to_cents(adj.amount)
                elif node.kind == PERSON:
                    value = node.value(month, ADJUSTED_MEASURE[category])
                else:
                    value = sum(c.adjusted_value(month, category, tree.months) for c in node.children)
                node.adjusted[(month, category)] = value
        return True

    adjusted = False
    for root in tree.roots:
        adjusted = compute(root) or adjusted
    if adjusted:
        for month in tree.months:
            for category in ADJUSTABLE:
                tree.total.adjusted[(month, category)] = sum(
                    r.adjusted_value(month, category, tree.months) for r in tree.roots
                )


def _mark_adjustable(user: Any, tree: Tree) -> None:
    ids = [n.user_id for n in tree.nodes.values() if n.kind == PERSON]
    info = (
        {u["id"]: u for u in User.objects.filter(pk__in=ids).values("id", "manager_id", "org_unit__path")}
        if ids
        else {}
    )
    for node in tree.nodes.values():
        if node.kind == UNIT:
            node.adjustable = may_adjust_unit(user, unit_path=node.path)
        elif node.kind == PERSON and node.unit_id == node.home_unit_id:
            u = info.get(node.user_id) or {}
            node.adjustable = may_adjust_user(
                user,
                user_id=node.user_id or 0,
                manager_id=u.get("manager_id"),
                unit_path=u.get("org_unit__path"),
            )


# --- snapshots --------------------------------------------------------------------------------


def snapshot_list() -> QuerySet:
    """Every snapshot, newest first: visible to everyone who may see the forecast (their rows are scoped)."""
    return ForecastSnapshot.objects.select_related("taken_by").order_by("-taken_at", "-id")


def snapshot_get(pk: int) -> ForecastSnapshot:
    snapshot = snapshot_list().filter(pk=pk).first()
    if snapshot is None:
        raise Http404("No such snapshot.")
    return snapshot


def snapshot_before(moment: dt.datetime) -> ForecastSnapshot | None:
    """The last snapshot taken strictly before ``moment``."""
    return ForecastSnapshot.objects.filter(taken_at__lt=moment).order_by("-taken_at", "-id").first()


def snapshot_row_list(user: Any, snapshot: ForecastSnapshot) -> QuerySet:
    """The snapshot's rows ``user`` may see (scoped like the cells they copy)."""
    return ForecastSnapshotRow.objects.visible_to(user).filter(snapshot_id=snapshot.pk)  # type: ignore[attr-defined]


# --- accuracy ---------------------------------------------------------------------------------

PCT = Decimal("0.1")


def accuracy_of(forecast: int | None, actual: int) -> Decimal | None:
    """``max(0, 1 − |actual − forecast| / forecast)`` as a percentage with one decimal; None when there
    is no forecast or it is 0 (undefined)."""
    if forecast is None or forecast <= 0:
        return None
    value = Decimal(1) - Decimal(abs(actual - forecast)) / Decimal(forecast)
    return max(Decimal(0), value * 100).quantize(PCT, ROUND_HALF_UP)


def accuracy_total(pairs: Iterable[tuple[int | None, int]]) -> Decimal | None:
    """Over several months: ``max(0, 1 − Σ|A − F| / ΣF)`` (1 − WAPE) over the months that had a forecast."""
    errors = 0
    forecasts = 0
    for forecast, actual in pairs:
        if forecast is None:
            continue
        errors += abs(actual - forecast)
        forecasts += forecast
    if forecasts <= 0:
        return None
    value = Decimal(1) - Decimal(errors) / Decimal(forecasts)
    return max(Decimal(0), value * 100).quantize(PCT, ROUND_HALF_UP)


@dataclass
class AccuracyResult:
    """Accuracy per closed month ``months`` (oldest first): ``snapshots[m]`` is the forecast used for m."""

    tree: Tree
    months: list[dt.date]
    snapshots: dict[dt.date, ForecastSnapshot | None]
    basis: str

    def forecast(self, node: Node, month: dt.date) -> int | None:
        if self.snapshots.get(month) is None:
            return None
        measure = WEIGHTED if self.basis == BASIS_WEIGHTED else COMMIT_ROLLUP
        return node.value(month, measure, FORECAST)

    def actual(self, node: Node, month: dt.date) -> int:
        return node.value(month, C.CLOSED_WON, ACTUAL)

    def accuracy(self, node: Node, month: dt.date) -> Decimal | None:
        return accuracy_of(self.forecast(node, month), self.actual(node, month))

    def forecast_total(self, node: Node) -> int | None:
        values = [self.forecast(node, m) for m in self.months]
        known = [v for v in values if v is not None]
        return sum(known) if known else None

    def actual_total(self, node: Node) -> int:
        return sum(self.actual(node, m) for m in self.months)

    def accuracy_all(self, node: Node) -> Decimal | None:
        return accuracy_total((self.forecast(node, m), self.actual(node, m)) for m in self.months)


def forecast_accuracy(
    user: Any,
    *,
    months: int = DEFAULT_ACCURACY_MONTHS,
    basis: str = BASIS_COMMIT,
    product_line_id: int | None = None,
    unit: OrgUnit | None = None,
    within: Within = None,
    today: dt.date | None = None,
) -> AccuracyResult:
    """Forecast accuracy per rep and unit over the last ``months`` complete close months.

    For a close month M the **forecast** is what the last snapshot taken before M began (local midnight
    on its first day) held for M: the commit forecast (commit + won) — or, with ``basis="weighted"``, the
    weighted figure; the **actual** is what was won in M, read from today's cells (``won`` of M). Then

        accuracy(M) = max(0, 1 − |actual − forecast| / forecast)

    undefined ("—") when the forecast is 0 or no snapshot precedes M. Over the period:
    ``max(0, 1 − Σ|A − F| / ΣF)`` (one minus the weighted absolute percentage error) over the months that
    had a forecast. Units are rolled up first, then measured: a unit's accuracy compares its total
    forecast with its total actual. Rows are scoped like the cells (snapshot rows and cells alike).
    """
    today = today or timezone.localdate()
    this_month = today.replace(day=1)
    period = [add_months(this_month, -i) for i in range(max(1, min(months, 24)), 0, -1)]
    q = ForecastQuery(months=period, product_line_id=product_line_id, unit=unit)
    chosen = {m: snapshot_before(month_start_at(m)) for m in period}
    by_snapshot: dict[int, list[dt.date]] = {}
    for m, snap in chosen.items():
        if snap is not None:
            by_snapshot.setdefault(snap.pk, []).append(m)
    forecast_rows_: list[tuple] = []
    if by_snapshot:
        cond = Q(pk__in=[])
        for snap_id, ms in by_snapshot.items():
            cond |= Q(snapshot_id=snap_id, month__in=ms)
        qs = ForecastSnapshotRow.objects.visible_to(user).filter(cond, category__in=WEIGHTED_PARTS)  # type: ignore[attr-defined]
        forecast_rows_ = _grouped(_narrow(qs, q, within))
    actual_qs = ForecastCell.objects.visible_to(user).filter(  # type: ignore[attr-defined]
        month__gte=period[0], month__lte=period[-1], category=C.CLOSED_WON
    )
    actual_rows = _grouped(_narrow(actual_qs, q, within))
    tree = build_tree(user, q, {FORECAST: forecast_rows_, ACTUAL: actual_rows})
    return AccuracyResult(tree=tree, months=period, snapshots=chosen, basis=basis)


# --- recalibrated probabilities --------------------------------------------------------------


@dataclass
class StageCalibration:
    code: str
    name: str
    order: int | None
    configured: Decimal | None  # the active playbook's probability (%); None: not in it any more
    reached: int  # closed opportunities that reached the stage
    won: int

    @property
    def lost(self) -> int:
        return self.reached - self.won

    @property
    def recalibrated(self) -> Decimal | None:
        """Share of them won, in % with one decimal; None without a sample."""
        if not self.reached:
            return None
        return (Decimal(self.won) * 100 / Decimal(self.reached)).quantize(PCT, ROUND_HALF_UP)

    @property
    def difference(self) -> Decimal | None:
        if self.recalibrated is None or self.configured is None:
            return None
        return self.recalibrated - self.configured


@dataclass
class Calibration:
    product_line: ProductLine
    playbook: Any
    stages: list[StageCalibration]
    closed: int
    won: int
    closed_from: dt.date | None

    @property
    def win_rate(self) -> Decimal | None:
        if not self.closed:
            return None
        return (Decimal(self.won) * 100 / Decimal(self.closed)).quantize(PCT, ROUND_HALF_UP)


def calibration_default_line() -> ProductLine | None:
    return ProductLine.objects.filter(is_active=True).order_by("sort_order", "code").first()


def _stage_name(stage: PlaybookStage) -> str:
    if (get_language() or "").startswith("en") and stage.name_en:
        return stage.name_en
    return stage.name


def forecast_calibration(
    user: Any,
    *,
    product_line: ProductLine,
    closed_months: int = DEFAULT_CLOSED_MONTHS,
    unit: OrgUnit | None = None,
    today: dt.date | None = None,
) -> Calibration:
    """Stage probabilities recalibrated from the line's history, beside the configured ones.

    For each stage of the line's playbook (the active version; stages of earlier versions are matched
    by their ``code``): of the **closed** opportunities of the line (won or lost, closed in the last
    ``closed_months`` months; 0 = all) that **reached** the stage — a ``StageVisit`` to a stage with that
    code, in any playbook version — the share that were **won**. One GROUP BY over the stage visits;
    scoped to the opportunities the viewer can see (and to ``unit``'s subtree when given).
    """
    today = today or timezone.localdate()
    closed: QuerySet = Opportunity.objects.visible_to(user).filter(  # type: ignore[attr-defined]
        product_line_id=product_line.pk, status__in=(OpportunityStatus.WON, OpportunityStatus.LOST)
    )
    closed_from = None
    if closed_months:
        closed_from = today - relativedelta(months=closed_months)
        closed = closed.filter(closed_on__gte=closed_from)
    if unit is not None:
        closed = _unit_filter(closed, unit)
    totals = closed.aggregate(n=Count("pk"), won=Count("pk", filter=Q(status=OpportunityStatus.WON)))
    rows = (
        StageVisit.objects.filter(opportunity__in=closed.values("pk"))
        .values_list("stage__code")
        .annotate(
            reached=Count("opportunity_id", distinct=True),
            won=Count("opportunity_id", distinct=True, filter=Q(opportunity__status=OpportunityStatus.WON)),
        )
        .order_by()
    )
    stats = {code: (reached, won) for code, reached, won in rows}
    playbook = playbook_for(product_line.pk)
    stages: list[StageCalibration] = []
    seen: set[str] = set()
    if playbook is not None:
        for st in playbook.stages.order_by("order"):
            if st.is_won or st.is_lost:
                continue
            reached, won = stats.get(st.code, (0, 0))
            stages.append(StageCalibration(st.code, _stage_name(st), st.order, st.probability, reached, won))
            seen.add(st.code)
        seen.update(playbook.stages.filter(Q(is_won=True) | Q(is_lost=True)).values_list("code", flat=True))
    extra = [code for code in stats if code not in seen]
    if extra:
        names: dict[str, str] = {}
        for st in PlaybookStage.objects.filter(code__in=extra, is_won=False, is_lost=False).order_by(
            "playbook__version"
        ):
            names[st.code] = _stage_name(st)
        for code in sorted(c for c in extra if c in names):
            reached, won = stats[code]
            stages.append(StageCalibration(code, names[code], None, None, reached, won))
    return Calibration(
        product_line=product_line,
        playbook=playbook,
        stages=stages,
        closed=totals["n"] or 0,
        won=totals["won"] or 0,
        closed_from=closed_from,
    )
