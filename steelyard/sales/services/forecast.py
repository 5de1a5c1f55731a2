"""The forecast's running totals (``ForecastCell``), kept by deltas, rebuilt in one GROUP BY.

Every service that writes an opportunity does::

    before = opportunity_figures(opportunity)      # as stored, before the change (None for a new one)
    ... change and save the opportunity ...
    forecast_cells_apply(before, opportunity_figures(opportunity))

``forecast_cells_apply`` subtracts the old figures from their cell and adds the new ones to theirs: two
``INSERT … ON CONFLICT DO UPDATE`` statements at most, whatever the number of opportunities, so an edit
costs the same with 200 or 200,000 open deals. ``forecast_rebuild`` recounts every cell from the
opportunities (after a bulk load, or to repair); the two always agree — a test holds them to it.

What counts where (``opportunity_figures``):

- an open opportunity: its ``forecast_category`` (``omitted`` included — roll-ups leave it out), in the
  month of its ``expected_close_date``;
- a won one: ``won``, in the month it closed (``closed_on``), weighted = amount;
- a lost one: ``lost``, in the month it closed, weighted 0.

Amounts are integer cents: Σ ``amount`` and Σ ``weighted_amount`` (each opportunity's amount ×
probability / 100, rounded half up to the cent by :func:`weighted`), so every roll-up is an exact sum.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, NamedTuple

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from steelyard.core.access import ADMINISTRATOR, user_has_role
from steelyard.core.models import AuditAction
from steelyard.core.services.audit import audit_create, audit_record
from steelyard.sales.models import (
    ForecastAdjustment,
    ForecastCategory,
    ForecastCell,
    ForecastSnapshot,
    Opportunity,
    OpportunityStatus,
)

CENT = Decimal("0.01")
HUNDRED = Decimal("100")


def weighted(amount: Decimal, probability: Decimal) -> Decimal:
    """``amount × probability / 100``, rounded half up to the cent."""
    return (Decimal(amount) * Decimal(probability) / HUNDRED).quantize(CENT, ROUND_HALF_UP)


def cents(value: Decimal | int | float | None) -> int:
    return int((Decimal(value or 0) * 100).quantize(Decimal(1), ROUND_HALF_UP))


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


class Figures(NamedTuple):
    """What one opportunity contributes to one forecast cell."""

    owner_id: int
    org_unit_id: int | None
    product_line_id: int
    month: dt.date
    category: str
    amount_cents: int
    weighted_cents: int

    @property
    def key(self) -> str:
        return cell_key(self.owner_id, self.org_unit_id, self.product_line_id, self.month, self.category)


def cell_key(
    owner_id: int, org_unit_id: int | None, product_line_id: int, month: dt.date, category: str
) -> str:
    return f"{owner_id}:{org_unit_id or 0}:{product_line_id}:{month:%Y-%m}:{category}"


def opportunity_figures(opportunity: Opportunity | None) -> Figures | None:
    """The cell and amounts ``opportunity`` counts in, as it is now in memory (None: counts nowhere)."""
    if opportunity is None or opportunity.pk is None:
        return None
    status = opportunity.status
    if status == OpportunityStatus.OPEN:
        day, category = opportunity.expected_close_date, opportunity.forecast_category
        weighted_cents = cents(opportunity.weighted_amount)
    else:
        day = opportunity.closed_on or opportunity.expected_close_date
        category = (
            ForecastCategory.CLOSED_WON if status == OpportunityStatus.WON else ForecastCategory.CLOSED_LOST
        )
        weighted_cents = cents(opportunity.amount) if status == OpportunityStatus.WON else 0
    if day is None:
        return None
    if isinstance(day, str):
        day = dt.date.fromisoformat(day)
    return Figures(
        opportunity.owner_id,
        opportunity.org_unit_id,
        opportunity.product_line_id,
        month_of(day),
        str(category),
        cents(opportunity.amount),
        weighted_cents,
    )


_UPSERT = (
    "INSERT INTO sales_forecastcell"
    " (key, owner_id, org_unit_id, product_line_id, month, category, count, amount_cents, weighted_cents)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (key) DO UPDATE SET count = sales_forecastcell.count + excluded.count,"
    " amount_cents = sales_forecastcell.amount_cents + excluded.amount_cents,"
    " weighted_cents = sales_forecastcell.weighted_cents + excluded.weighted_cents"
)


def _row(f: Figures, sign: int) -> list[Any]:
    return [
        f.key,
        f.owner_id,
        f.org_unit_id,
        f.product_line_id,
        connection.ops.adapt_datefield_value(f.month),
        f.category,
        sign,
        sign * f.amount_cents,
        sign * f.weighted_cents,
    ]


def forecast_cells_apply(before: Figures | None, after: Figures | None) -> None:
    """Move one opportunity's contribution from ``before`` to ``after`` (either may be None)."""
    if before == after:
        return
    rows = []
    if before is not None:
        rows.append(_row(before, -1))
    if after is not None:
        rows.append(_row(after, 1))
    with connection.cursor() as cursor:
        cursor.executemany(_UPSERT, rows)


#: An index on the opportunities that covers the recount (status, owner, unit, line, category, close date,
#: closed on, amount, weighted amount): with it SQLite reads the rows in group order instead of sorting
#: the table; without it a plain scan is cheaper than the (owner, status, close date) index's lookups.
COVERING_INDEX = "sales_opp_forecast_cover"


def _has_index(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = %s", [name])
        return cursor.fetchone() is not None


_CELL_COLUMNS = (
    "key, owner_id, org_unit_id, product_line_id, month, category, count, amount_cents, weighted_cents"
)


def forecast_rebuild() -> int:
    """Recount every cell from the opportunities (one GROUP BY per status); returns the number of cells.

    One transaction: readers see the old cells or the new ones, never a half-built forecast. The recount
    goes into a temporary table first; then only the cells whose figures differ are written (one
    ``INSERT … ON CONFLICT DO UPDATE … WHERE`` changed) and the cells the recount no longer has are
    deleted — so repairing a forecast that is (nearly) right writes (nearly) nothing, and a rebuild after
    a bulk load inserts every cell once.
    """
    c = "sales_opportunity"
    # The month is the first day of the close month, computed by the database.
    if connection.vendor == "postgresql":
        source = f"{c} o"
        open_month = "CAST(date_trunc('month', o.expected_close_date) AS date)"
        closed_month = "CAST(date_trunc('month', COALESCE(o.closed_on, o.expected_close_date)) AS date)"
        # numeric sums are exact: multiply once per cell, not per row
        total = "CAST(SUM({x}) * 100 AS bigint)"
        key = (
            "CONCAT(g.owner_id, ':', COALESCE(g.org_unit_id, 0), ':', g.product_line_id, ':',"
            " to_char({m}, 'YYYY-MM'), ':', {cat})"
        )
        temp = "pg_temp.fc_recount"
        create = (
            "CREATE TEMPORARY TABLE fc_recount ON COMMIT DROP AS"  # noqa: S608
            f" SELECT {_CELL_COLUMNS} FROM sales_forecastcell WITH NO DATA"
        )
    else:
        # A plain scan: the (owner, status, close date) index would cost a table lookup per row. Dates are
        # stored as 'YYYY-MM-DD' text, so the month is its first seven characters.
        source = f"{c} AS o" if _has_index(COVERING_INDEX) else f"{c} AS o NOT INDEXED"
        open_month = "substr(o.expected_close_date, 1, 7) || '-01'"
        closed_month = "substr(COALESCE(o.closed_on, o.expected_close_date), 1, 7) || '-01'"
        # amounts may be stored as floating point: sum integer cents, row by row
        total = "SUM(CAST(ROUND({x} * 100) AS INTEGER))"
        key = (
            "g.owner_id || ':' || COALESCE(g.org_unit_id, 0) || ':' || g.product_line_id || ':'"
            " || substr({m}, 1, 7) || ':' || {cat}"
        )
        temp = "temp.fc_recount"
        create = (
            "CREATE TEMPORARY TABLE fc_recount AS"  # noqa: S608
            f" SELECT {_CELL_COLUMNS} FROM sales_forecastcell WHERE 0"
        )
    amount = total.format(x="o.amount")
    parts = [
        (open_month, "o.forecast_category", total.format(x="o.weighted_amount"), "o.status = 'open'"),
        (closed_month, "'won'", amount, "o.status = 'won'"),
        (closed_month, "'lost'", "0", "o.status = 'lost'"),
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Writers of cells wait until the recount is in (readers don't): a delta that comes after it
            # lands on the recounted cells. SQLite's immediate transaction already holds the write lock.
            cursor.execute("LOCK TABLE sales_forecastcell IN SHARE ROW EXCLUSIVE MODE")
            cursor.execute("SET LOCAL work_mem = '64MB'")  # the GROUP BY and joins stay in memory
        cursor.execute(f"DROP TABLE IF EXISTS {temp}")
        cursor.execute(create)
        for month, cat, w, where in parts:
            group = f"{cat}, {month}" if cat.startswith("o.") else month
            # The key is built once per cell, outside the GROUP BY (inside it, SQLite would build it per row).
            cursor.execute(
                f"INSERT INTO fc_recount ({_CELL_COLUMNS})"  # noqa: S608
                f" SELECT {key.format(m='g.month', cat='g.category')}, g.owner_id, g.org_unit_id,"
                " g.product_line_id, g.month, g.category, g.n, g.a, g.w FROM ("
                " SELECT o.owner_id AS owner_id, o.org_unit_id AS org_unit_id, o.product_line_id AS product_line_id,"
                f" {month} AS month, {cat} AS category, COUNT(*) AS n, {amount} AS a, {w} AS w"
                f" FROM {source} WHERE {where}"
                f" GROUP BY o.owner_id, o.org_unit_id, o.product_line_id, {group}) g"
            )
        if connection.vendor == "postgresql":
            # An upsert would lock (and so write) every existing row even when nothing changes: update the
            # cells that differ, then insert the new ones.
            cursor.execute(
                "UPDATE sales_forecastcell c SET count = r.count, amount_cents = r.amount_cents,"
                " weighted_cents = r.weighted_cents FROM fc_recount r WHERE r.key = c.key"
                " AND (c.count <> r.count OR c.amount_cents <> r.amount_cents OR c.weighted_cents <> r.weighted_cents)"
            )
            cursor.execute(
                f"INSERT INTO sales_forecastcell ({_CELL_COLUMNS})"  # noqa: S608
                f" SELECT {_CELL_COLUMNS} FROM fc_recount r"
                " WHERE NOT EXISTS (SELECT 1 FROM sales_forecastcell c WHERE c.key = r.key)"
            )
        else:
            cursor.execute("CREATE INDEX fc_recount_key ON fc_recount (key)")
            cursor.execute(
                f"INSERT INTO sales_forecastcell ({_CELL_COLUMNS})"  # noqa: S608
                f" SELECT {_CELL_COLUMNS} FROM fc_recount WHERE true"
                " ON CONFLICT (key) DO UPDATE SET count = excluded.count, amount_cents = excluded.amount_cents,"
                " weighted_cents = excluded.weighted_cents"
                " WHERE sales_forecastcell.count <> excluded.count"
                " OR sales_forecastcell.amount_cents <> excluded.amount_cents"
                " OR sales_forecastcell.weighted_cents <> excluded.weighted_cents"
            )
        cursor.execute(
            "DELETE FROM sales_forecastcell WHERE NOT EXISTS"
            " (SELECT 1 FROM fc_recount r WHERE r.key = sales_forecastcell.key)"
        )
        cursor.execute(f"DROP TABLE IF EXISTS {temp}")
    return ForecastCell.objects.count()


# --- managers' adjustments ------------------------------------------------------------------------

ERR_NOT_MANAGER = _("Only sales managers and directors may adjust the forecast.")
ERR_OUT_OF_SCOPE = _("You may only adjust the forecast of the people and units you manage.")
ERR_CATEGORY = _("Choose the commit forecast, the best case forecast or the pipeline total.")
ERR_AMOUNT = _("Enter an amount of zero or more, to the cent.")
ERR_ONE_SUBJECT = _("Choose either a person or an org unit.")
ERR_SNAPSHOT_ADMIN = _("Only administrators may take a forecast snapshot.")
MAX_ADJUSTMENT = Decimal("99999999999999.99")


@transaction.atomic
def forecast_adjustment_create(
    *,
    actor: Any,
    month: dt.date,
    category: str,
    amount: Decimal | str | int,
    subject_user: Any = None,
    subject_unit: Any = None,
    note: str = "",
) -> ForecastAdjustment:
    """A manager's own figure for a person's or a unit's month and roll-up category, beside the system's.

    ``category`` names the roll-up it replaces: ``commit`` (commit + won), ``best_case`` (best case +
    commit + won) or ``pipeline`` (pipeline + best case + commit + won). Earlier adjustments of the same
    subject, month and category stay as history; the new one is in force. Only managers, for people and
    units within their scope (``selectors.forecast.may_adjust_user`` / ``may_adjust_unit``); audited.
    """
    from steelyard.sales.selectors.forecast import (
        ADJUSTABLE,
        can_adjust,
        may_adjust_unit,
        may_adjust_user,
    )

    if not can_adjust(actor):
        raise PermissionDenied(ERR_NOT_MANAGER)
    if (subject_user is None) == (subject_unit is None):
        raise ValidationError(ERR_ONE_SUBJECT, code="subject")
    if subject_user is not None:
        unit = subject_user.org_unit if subject_user.org_unit_id else None
        allowed = may_adjust_user(
            actor,
            user_id=subject_user.pk,
            manager_id=subject_user.manager_id,
            unit_path=unit.path if unit is not None else None,
        )
    else:
        allowed = may_adjust_unit(actor, unit_path=subject_unit.path)
    if not allowed:
        raise PermissionDenied(ERR_OUT_OF_SCOPE)
    errors: dict[str, Any] = {}
    if category not in ADJUSTABLE:
        errors["category"] = ERR_CATEGORY
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        value = Decimal(-1)
    if not value.is_finite() or value < 0 or value > MAX_ADJUSTMENT or value != value.quantize(CENT):
        errors["amount"] = ERR_AMOUNT
    if errors:
        raise ValidationError(errors)
    adjustment = ForecastAdjustment.objects.create(
        author=actor,
        subject_user=subject_user,
        subject_unit=subject_unit,
        month=month_of(month),
        category=category,
        amount=value,
        note=(note or "").strip()[:300],
    )
    audit_create(actor=actor, obj=adjustment)
    return adjustment


# --- snapshots ------------------------------------------------------------------------------------

_SNAPSHOT_COPY = (
    "INSERT INTO sales_forecastsnapshotrow"
    " (snapshot_id, owner_id, org_unit_id, product_line_id, month, category, count, amount_cents,"
    " weighted_cents)"
    " SELECT %s, owner_id, org_unit_id, product_line_id, month, category, count, amount_cents, weighted_cents"
    " FROM sales_forecastcell WHERE NOT (count = 0 AND amount_cents = 0 AND weighted_cents = 0)"
)


@transaction.atomic
def forecast_snapshot_take(
    *, actor: Any = None, weekly: bool = True, at: dt.datetime | None = None
) -> ForecastSnapshot:
    """Copy every (non-empty) forecast cell into a new, immutable snapshot taken ``at`` (default now).

    ``weekly``: the snapshot of the week (Monday) ``at`` falls in — taken once; asking again that week
    returns the one already taken (the periodic job may run twice). Otherwise an extra snapshot (an
    administrator's "take snapshot now"). ``actor`` None is the system (the job); a person must be an
    administrator. ``rows_count`` is counted first and the rows copied in one ``INSERT … SELECT``, with
    the cells locked against writers in between (``LOCK … SHARE`` on PostgreSQL; SQLite's immediate
    transactions already hold the write lock), so the count and the rows agree. Audited.
    """
    if actor is not None and not user_has_role(actor, ADMINISTRATOR):
        raise PermissionDenied(ERR_SNAPSHOT_ADMIN)
    at = at or timezone.now()
    day = timezone.localtime(at).date()
    week = day - dt.timedelta(days=day.weekday())
    if weekly:
        existing = ForecastSnapshot.objects.filter(week=week, is_weekly=True).first()
        if existing is not None:
            return existing
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("LOCK TABLE sales_forecastcell IN SHARE MODE")
        rows_count = ForecastCell.objects.exclude(count=0, amount_cents=0, weighted_cents=0).count()
        snapshot = ForecastSnapshot.objects.create(
            taken_at=at, week=week, taken_by=actor, is_weekly=weekly, rows_count=rows_count
        )
        cursor.execute(_SNAPSHOT_COPY, [snapshot.pk])
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=snapshot,
        verb="sales.forecast_snapshot_taken",
        extra={"rows": rows_count, "weekly": weekly},
    )
    return snapshot
