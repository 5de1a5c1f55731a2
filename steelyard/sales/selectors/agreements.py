"""Reading framework agreements: the scoped list, one agreement, search, a customer's agreements, and the
plan against actual orders.

Agreements are scoped through their customer (``FrameworkAgreement.objects.visible_to(user)``); one
outside the user's scope answers 404.

**Plan vs actual** (:func:`agreement_plan_vs_actual`): for every product planned on the agreement and every
period of its term, the planned quantity beside the quantity actually ordered — Σ ``orders.OrderLine.quantity``
of the agreement's customer for that product, on orders whose ``ordered_on`` falls in the period *and* in
the agreement's term (a term starting mid-quarter counts that quarter's orders from its start), cancelled
orders left out — and the attainment (actual / planned, %; none when nothing was planned). The actual
quantities are one ``GROUP BY product, period`` query.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import QuerySet, Sum
from django.db.models.functions import TruncMonth, TruncQuarter
from django.http import Http404

from steelyard.catalog.models import Product
from steelyard.core.scopes import VIEW
from steelyard.orders.models import OrderLine, OrderStatus
from steelyard.sales.models import AgreementPeriod, FrameworkAgreement, FrameworkLine
from steelyard.sales.services.agreements import agreement_periods, period_label

ZERO = Decimal("0")
HUNDRED = Decimal("100")
QTY = Decimal("0.001")  # OrderLine.quantity's places: the same figure on SQLite and PostgreSQL


def _pk(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise Http404("No such agreement.") from exc


def agreement_base(*, user: Any, action: str = VIEW) -> QuerySet[FrameworkAgreement]:
    return FrameworkAgreement.objects.visible_to(user, action)


def agreement_list(*, user: Any, filters: Mapping[str, Any] | None = None) -> QuerySet[FrameworkAgreement]:
    """The agreements list: scoped, filtered and sorted by ``AgreementFilter``."""
    from steelyard.sales.forms_quotes import AgreementFilter

    qs = agreement_base(user=user).select_related("customer", "contract")
    return AgreementFilter(filters or {}, user=user).apply(qs)


def agreement_get(*, user: Any, pk: Any, action: str = VIEW) -> FrameworkAgreement:
    agreement = (
        agreement_base(user=user, action=action)
        .select_related("customer", "contract")
        .filter(pk=_pk(pk))
        .first()
    )
    if agreement is None:
        raise Http404("No such agreement.")
    return agreement


def agreements_for_customer(*, user: Any, customer: Any, limit: int = 5) -> list[FrameworkAgreement]:
    return list(
        agreement_base(user=user).filter(customer=customer).order_by("-starts_on", "-id")[: limit + 1]
    )


def agreement_search(*, user: Any, q: str, limit: int = 10) -> list[FrameworkAgreement]:
    from django.db.models import Q

    q = (q or "").strip()
    if not q:
        return []
    return list(
        agreement_base(user=user)
        .filter(Q(number__icontains=q) | Q(title__icontains=q) | Q(customer__legal_name__icontains=q))
        .select_related("customer")
        .order_by("-starts_on", "-id")[:limit]
    )


def agreement_lines(agreement: FrameworkAgreement) -> list[FrameworkLine]:
    return list(
        FrameworkLine.objects.filter(agreement=agreement)
        .select_related("product")
        .order_by("product__code", "period_start")
    )


# --- plan vs actual ----------------------------------------------------------------------------------------


def attainment(planned: Decimal, actual: Decimal) -> Decimal | None:
    """``actual / planned`` in %, one decimal, half up; None when nothing was planned."""
    if not planned:
        return None
    return (Decimal(actual) / Decimal(planned) * HUNDRED).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass
class Cell:
    planned: Decimal = ZERO
    actual: Decimal = ZERO
    start: dt.date | None = None  # the period's first day (None for a product's total)

    @property
    def attainment(self) -> Decimal | None:
        return attainment(self.planned, self.actual)


@dataclass
class ProductRow:
    product: Product
    cells: list[Cell]
    total: Cell


@dataclass
class PlanVsActual:
    """The grid of an agreement: ``periods`` (first days) × ``rows`` (one per planned product), with totals
    per period (``period_totals``), per product (``row.total``) and overall (``total``)."""

    agreement: FrameworkAgreement
    periods: list[dt.date]
    labels: list[str]
    rows: list[ProductRow] = field(default_factory=list)
    period_totals: list[Cell] = field(default_factory=list)
    total: Cell = field(default_factory=Cell)

    def flat(self) -> list[dict[str, Any]]:
        """One dict per (product, period) cell: for the API."""
        out = []
        for row in self.rows:
            for start, label, cell in zip(self.periods, self.labels, row.cells, strict=True):
                out.append(
                    {
                        "product_id": row.product.pk,
                        "product_code": row.product.code,
                        "product_name": row.product.name,
                        "period_start": start,
                        "period": label,
                        "planned": cell.planned,
                        "actual": cell.actual,
                        "attainment_pct": cell.attainment,
                    }
                )
        return out

    def chart(self) -> dict[str, Any]:
        """Planned and actual per period (all planned products together), for the bar chart."""
        return {
            "periods": self.labels,
            "planned": [float(c.planned) for c in self.period_totals],
            "actual": [float(c.actual) for c in self.period_totals],
        }


def actual_quantities(
    agreement: FrameworkAgreement, product_ids: list[int]
) -> dict[tuple[int, dt.date], Decimal]:
    """``{(product id, period start): quantity ordered}`` in the agreement's term, one GROUP BY query."""
    if not product_ids:
        return {}
    trunc = TruncQuarter if agreement.period == AgreementPeriod.QUARTER else TruncMonth
    rows = (
        OrderLine.objects.filter(
            order__customer_id=agreement.customer_id,
            product_id__in=product_ids,
            order__ordered_on__gte=agreement.starts_on,
            order__ordered_on__lte=agreement.ends_on,
        )
        .exclude(order__status=OrderStatus.CANCELLED)
        .annotate(period=trunc("order__ordered_on"))
        .values("product_id", "period")
        .annotate(quantity=Sum("quantity"))
        .order_by()
    )
    out: dict[tuple[int, dt.date], Decimal] = {}
    for r in rows:
        period = r["period"]
        if isinstance(period, dt.datetime):
            period = period.date()
        out[(r["product_id"], period)] = Decimal(r["quantity"] or 0).quantize(QTY)
    return out


def agreement_plan_vs_actual(agreement: FrameworkAgreement) -> PlanVsActual:
    """The agreement's plan against actual orders, per product per period (module docstring); 2 queries."""
    periods = agreement_periods(agreement)
    index = {p: i for i, p in enumerate(periods)}
    result = PlanVsActual(
        agreement=agreement,
        periods=periods,
        labels=[period_label(p, agreement.period) for p in periods],
        period_totals=[Cell(start=p) for p in periods],
    )
    planned: dict[int, dict[dt.date, Decimal]] = defaultdict(dict)
    products: dict[int, Product] = {}
    for line in agreement_lines(agreement):
        products.setdefault(line.product_id, line.product)
        planned[line.product_id][line.period_start] = line.planned_quantity
    actual = actual_quantities(agreement, list(products))
    for product_id, product in products.items():
        cells = [Cell(start=p) for p in periods]
        for start, qty in planned[product_id].items():
            if start in index:
                cells[index[start]].planned = qty
        for (pid, start), qty in actual.items():
            if pid == product_id and start in index:
                cells[index[start]].actual = qty
        total = Cell(sum((c.planned for c in cells), ZERO), sum((c.actual for c in cells), ZERO))
        result.rows.append(ProductRow(product, cells, total))
        for i, c in enumerate(cells):
            result.period_totals[i].planned += c.planned
            result.period_totals[i].actual += c.actual
        result.total.planned += total.planned
        result.total.actual += total.actual
    return result
