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
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

from django.db import connection, transaction

from steelyard.sales.models import ForecastCategory, ForecastCell, Opportunity, OpportunityStatus

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


def forecast_rebuild() -> int:
    """Recount every cell from the opportunities (one GROUP BY per status); returns the number of cells.

    One transaction: readers see the old cells or the new ones, never a half-built forecast.
    """
    with transaction.atomic():
        ForecastCell.objects.all().delete()
        c = "sales_opportunity"
        # The month is the first day of the close month, computed by the database.
        if connection.vendor == "postgresql":
            open_month = "CAST(date_trunc('month', o.expected_close_date) AS date)"
            closed_month = "CAST(date_trunc('month', COALESCE(o.closed_on, o.expected_close_date)) AS date)"
            amount = "CAST(ROUND(o.amount * 100) AS bigint)"
            weighted_c = "CAST(ROUND(o.weighted_amount * 100) AS bigint)"
            key = (
                "CONCAT(o.owner_id, ':', COALESCE(o.org_unit_id, 0), ':', o.product_line_id, ':',"
                " to_char({m}, 'YYYY-MM'), ':', {cat})"
            )
        else:
            open_month = "date(o.expected_close_date, 'start of month')"
            closed_month = "date(COALESCE(o.closed_on, o.expected_close_date), 'start of month')"
            amount = "CAST(ROUND(o.amount * 100) AS INTEGER)"
            weighted_c = "CAST(ROUND(o.weighted_amount * 100) AS INTEGER)"
            key = (
                "o.owner_id || ':' || COALESCE(o.org_unit_id, 0) || ':' || o.product_line_id || ':'"
                " || strftime('%Y-%m', {m}) || ':' || {cat}"
            )
        parts = [
            (open_month, "o.forecast_category", weighted_c, "o.status = 'open'"),
            (closed_month, "'won'", amount, "o.status = 'won'"),
            (closed_month, "'lost'", "0", "o.status = 'lost'"),
        ]
        with connection.cursor() as cursor:
            for month, cat, w, where in parts:
                group = f"{month}, {cat}" if cat.startswith("o.") else month
                cursor.execute(
                    "INSERT INTO sales_forecastcell"  # noqa: S608
                    " (key, owner_id, org_unit_id, product_line_id, month, category, count, amount_cents,"
                    " weighted_cents)"
                    f" SELECT {key.format(m=month, cat=cat)}, o.owner_id, o.org_unit_id, o.product_line_id,"
                    f" {month}, {cat}, COUNT(*), SUM({amount}), SUM({w})"
                    f" FROM {c} o WHERE {where}"
                    f" GROUP BY o.owner_id, o.org_unit_id, o.product_line_id, {group}"
                )
        return ForecastCell.objects.count()
