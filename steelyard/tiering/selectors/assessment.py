"""Reading for the tier assessment: the factor scans the engine runs, and the runs, assessments and
customer tiers people look at.

**Factor scans** (:func:`factor_scan`) compute the raw value of every factor for every customer with a
handful of shared SQL scans — one ``GROUP BY customer`` pass over each source table (orders, order
lines, invoices with their payments, payments, shipped units, entered values), never a query per
customer. Like ``orders.selectors.balances_for`` they are **not scoped**: the engine assesses every
customer, and a caller that shows the numbers to a person must restrict the customers first.

Everything is measured *as of* a day ``as_of`` (records dated after it are ignored), over two windows:
the trailing 12 months ``(as_of − 1 year, as_of]`` and the trailing 24 months ``(as_of − 2 years,
as_of]`` (29 February steps back to 28 February). The definitions, for one customer:

- ``revenue_12m``: Σ ``amount`` of its orders that are not cancelled, ordered in the 12-month window
  (0 without orders). Money is rounded to cents.
- ``gross_margin``: over the lines of those orders that carry a ``unit_cost`` (from the ERP):
  ``(Σ line amount − Σ quantity × unit_cost) / Σ line amount``, 4 decimal places; None when no line
  has a cost (or their amount is 0).
- ``revenue_growth``: ``revenue_12m / revenue of the 12 months before − 1`` (4 places); None when the
  earlier revenue is 0.
- ``days_late``: the average, over its issued invoices, of the days each was paid late — for an
  invoice paid in full (payments naming it ≥ its amount) whose last payment came in the 24-month window:
  ``max(0, last payment date − due date)`` (paying early counts as 0, not as credit); for an invoice not
  paid in full whose due date has passed: the days it is overdue so far (``as_of − due date``). One
  decimal place; None when no invoice qualifies.
- ``overdue_share``: ``overdue / outstanding`` with the definitions of ``balances_for`` measured on
  ``as_of``: outstanding = Σ issued invoices − Σ every payment; overdue = Σ over issued invoices due
  before ``as_of`` of what the payments naming that invoice leave unpaid, capped at the outstanding
  amount. 0 when nothing is outstanding; None when the customer has no issued invoice at all.
- ``purchase_frequency``: the number of its orders (not cancelled) in the 24-month window (0 without).
- ``recency_days``: days from its last order (not cancelled) to ``as_of``; None if it never ordered.
- ``installed_base``: the serial-numbered units shipped to it (``ShippedUnit`` through the shipment's
  customer), shipped on or before ``as_of`` (0 without).
- ``potential``, ``strategic_fit``: the :class:`~steelyard.tiering.models.EnteredValue` a person entered
  (None when none).

For a **product-line model** the order factors (revenue, margin, growth, frequency, recency) count only
the order lines of that line's products (revenue is then Σ line amounts, frequency the orders with such
a line), and the installed base only that line's products. Payment punctuality and entered values stay
customer-wide: invoices and payments are not per product line.

Raw values are :class:`~decimal.Decimal` (counts too) or None.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from typing import Any

from django.db import connection
from django.db.models import Count, Model, OuterRef, QuerySet, Subquery
from django.http import Http404

from steelyard.catalog.models import Product
from steelyard.customers.models import Customer
from steelyard.orders.models import (
    Invoice,
    InvoiceStatus,
    OrderLine,
    OrderStatus,
    Payment,
    SalesOrder,
    Shipment,
    ShipmentLine,
    ShippedUnit,
)
from steelyard.tiering.models import (
    ENTERED_FACTORS,
    Assessment,
    AssessmentRun,
    CustomerTier,
    EnteredValue,
    FactorCode,
    TierModel,
)

CENT = Decimal("0.01")
RATIO = Decimal("0.0001")
TENTH = Decimal("0.1")
ONE = Decimal("1")
ZERO_MONEY = Decimal("0.00")
ZERO_COUNT = Decimal("0")
ID_CHUNK = 500
# Sums of money read back from SQLite are floats: half a cent absorbs their rounding noise.
HALF_CENT = "0.005"

ALL_CODES: tuple[str, ...] = tuple(FactorCode.values)
ORDER_CODES = {
    FactorCode.REVENUE_12M,
    FactorCode.REVENUE_GROWTH,
    FactorCode.PURCHASE_FREQUENCY,
    FactorCode.RECENCY,
}
#: What a customer without any record of the factor's kind gets.
DEFAULTS: dict[str, Decimal | None] = dict.fromkeys(ALL_CODES) | {
    FactorCode.REVENUE_12M.value: ZERO_MONEY,
    FactorCode.PURCHASE_FREQUENCY.value: ZERO_COUNT,
    FactorCode.INSTALLED_BASE.value: ZERO_COUNT,
}


# --- windows ------------------------------------------------------------------------------------


def years_back(day: dt.date, years: int) -> dt.date:
    """The same day ``years`` years earlier (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


@dataclass(frozen=True)
class Windows:
    """``as_of`` and the exclusive starts of the trailing 12- and 24-month windows."""

    as_of: dt.date
    start_12m: dt.date
    start_24m: dt.date

    @classmethod
    def ending(cls, as_of: dt.date) -> Windows:
        return cls(as_of, years_back(as_of, 1), years_back(as_of, 2))


# --- numbers from the database -------------------------------------------------------------------


def to_decimal(value: Any, exp: Decimal) -> Decimal | None:
    """A database number (Decimal on PostgreSQL, int/float on SQLite) as a Decimal rounded to ``exp``."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, float):
        d = Decimal(repr(value))
    else:
        d = Decimal(value)
    return d.quantize(exp, ROUND_HALF_UP)


def _as_date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


# --- SQL helpers --------------------------------------------------------------------------------


def _t(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _date(name: str) -> str:
    """A date parameter; PostgreSQL is told its type (SQLite compares ISO strings)."""
    return f"CAST(%({name})s AS date)" if connection.vendor == "postgresql" else f"%({name})s"


def _days(later: str, earlier: str) -> str:
    """Days from ``earlier`` to ``later`` (two date expressions) as a number."""
    if connection.vendor == "postgresql":
        return f"({later} - {earlier})"
    return f"(julianday({later}) - julianday({earlier}))"


def _whole(chunk: list[int] | None) -> str:
    """SQLite: read the whole table in storage order rather than row by row through an index.

    A shared scan visits every row anyway; through the customer index SQLite would fetch the rows in
    random order (measured 2–3× slower at a million order lines). Only when all customers are read.
    """
    return " NOT INDEXED" if chunk is None and connection.vendor == "sqlite" else ""


def _chunks(customer_ids: Iterable[int] | None) -> list[list[int] | None]:
    if customer_ids is None:
        return [None]
    ids = sorted({int(i) for i in customer_ids})
    return [ids[i : i + ID_CHUNK] for i in range(0, len(ids), ID_CHUNK)]


def _ids_clause(column: str, chunk: list[int] | None, params: dict[str, Any]) -> str:
    if chunk is None:
        return ""
    names = []
    for n, pk in enumerate(chunk):
        params[f"c{n}"] = pk
        names.append(f"%(c{n})s")
    return f" AND {column} IN ({', '.join(names)})"


def _rows(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# --- the scans ----------------------------------------------------------------------------------


@dataclass
class FactorScan:
    """The raw factor values of a scan: ``values[code][customer_id]`` for the customers that have data,
    :data:`DEFAULTS` for the others (see :meth:`value`)."""

    windows: Windows
    codes: tuple[str, ...]
    values: dict[str, dict[int, Decimal | None]] = field(default_factory=dict)

    def value(self, code: str, customer_id: int) -> Decimal | None:
        return self.values.get(code, {}).get(customer_id, DEFAULTS[code])

    def row(self, customer_id: int) -> dict[str, Decimal | None]:
        return {code: self.value(code, customer_id) for code in self.codes}


def _order_params(w: Windows) -> dict[str, Any]:
    adapt = connection.ops.adapt_datefield_value
    return {
        "as_of": adapt(w.as_of),
        "s12": adapt(w.start_12m),
        "s24": adapt(w.start_24m),
        "cancelled": OrderStatus.CANCELLED.value,
        "issued": InvoiceStatus.ISSUED.value,
    }


def _scan_orders(scan: FactorScan, chunk: list[int] | None, product_line_id: int | None) -> None:
    """Revenue (both windows), frequency, last order — and, for a product line, the margin too."""
    w = scan.windows
    params = _order_params(w)
    as_of, s12, s24 = _date("as_of"), _date("s12"), _date("s24")
    if product_line_id is None:
        sql = (
            f"SELECT o.customer_id,"  # noqa: S608 - table names from the models, values as parameters
            f" SUM(CASE WHEN o.ordered_on > {s12} THEN o.amount ELSE 0 END),"
            f" SUM(CASE WHEN o.ordered_on > {s24} AND o.ordered_on <= {s12} THEN o.amount ELSE 0 END),"
            f" SUM(CASE WHEN o.ordered_on > {s24} THEN 1 ELSE 0 END),"
            f" MAX(o.ordered_on), NULL, NULL, 0"
            f" FROM {_t(SalesOrder)} o{_whole(chunk)}"
            f" WHERE o.status <> %(cancelled)s AND o.ordered_on <= {as_of}"
            f"{_ids_clause('o.customer_id', chunk, params)}"
            f" GROUP BY o.customer_id"
        )
    else:
        params["line"] = product_line_id
        costed = f"o.ordered_on > {s12} AND l.unit_cost IS NOT NULL"
        sql = (
            f"SELECT o.customer_id,"  # noqa: S608
            f" SUM(CASE WHEN o.ordered_on > {s12} THEN l.amount ELSE 0 END),"
            f" SUM(CASE WHEN o.ordered_on > {s24} AND o.ordered_on <= {s12} THEN l.amount ELSE 0 END),"
            f" COUNT(DISTINCT CASE WHEN o.ordered_on > {s24} THEN o.id END),"
            f" MAX(o.ordered_on),"
            f" SUM(CASE WHEN {costed} THEN l.amount ELSE 0 END),"
            f" SUM(CASE WHEN {costed} THEN l.quantity * l.unit_cost ELSE 0 END),"
            f" SUM(CASE WHEN {costed} THEN 1 ELSE 0 END)"
            f" FROM {_t(OrderLine)} l{_whole(chunk)}"
            f" JOIN {_t(SalesOrder)} o ON o.id = l.order_id"
            f" JOIN {_t(Product)} p ON p.id = l.product_id"
            f" WHERE p.product_line_id = %(line)s AND o.status <> %(cancelled)s AND o.ordered_on <= {as_of}"
            f"{_ids_clause('o.customer_id', chunk, params)}"
            f" GROUP BY o.customer_id"
        )
    rev = scan.values.setdefault(FactorCode.REVENUE_12M, {})
    growth = scan.values.setdefault(FactorCode.REVENUE_GROWTH, {})
    freq = scan.values.setdefault(FactorCode.PURCHASE_FREQUENCY, {})
    recency = scan.values.setdefault(FactorCode.RECENCY, {})
    margin = scan.values.setdefault(FactorCode.GROSS_MARGIN, {})
    for cid, r12, prev, n24, last, costed_amount, cost, n_costed in _rows(sql, params):
        r12 = to_decimal(r12, CENT) or ZERO_MONEY
        prev = to_decimal(prev, CENT) or ZERO_MONEY
        rev[cid] = r12
        if prev > 0:
            growth[cid] = (r12 / prev - ONE).quantize(RATIO, ROUND_HALF_UP)
        freq[cid] = Decimal(int(n24 or 0))
        last_day = _as_date(last)
        if last_day is not None:
            recency[cid] = Decimal((w.as_of - last_day).days)
        if product_line_id is not None and n_costed:
            _set_margin(margin, cid, costed_amount, cost)


def _set_margin(margin: dict[int, Decimal | None], cid: int, amount: Any, cost: Any) -> None:
    amount = to_decimal(amount, CENT) or ZERO_MONEY
    cost = to_decimal(cost, CENT) or ZERO_MONEY
    if amount != 0:
        margin[cid] = ((amount - cost) / amount).quantize(RATIO, ROUND_HALF_UP)


def _scan_margin(scan: FactorScan, chunk: list[int] | None) -> None:
    """Gross margin over the costed order lines of the 12-month window (global models)."""
    params = _order_params(scan.windows)
    sql = (
        f"SELECT o.customer_id, SUM(l.amount), SUM(l.quantity * l.unit_cost)"  # noqa: S608
        f" FROM {_t(OrderLine)} l{_whole(chunk)} JOIN {_t(SalesOrder)} o ON o.id = l.order_id"
        f" WHERE l.unit_cost IS NOT NULL AND o.status <> %(cancelled)s"
        f" AND o.ordered_on > {_date('s12')} AND o.ordered_on <= {_date('as_of')}"
        f"{_ids_clause('o.customer_id', chunk, params)}"
        f" GROUP BY o.customer_id"
    )
    margin = scan.values.setdefault(FactorCode.GROSS_MARGIN, {})
    for cid, amount, cost in _rows(sql, params):
        _set_margin(margin, cid, amount, cost)


def _scan_invoices(scan: FactorScan, chunk: list[int] | None, codes: set[str]) -> None:
    """Days late and the overdue share: issued invoices joined to the payments that name them."""
    params = _order_params(scan.windows)
    as_of, s24 = _date("as_of"), _date("s24")
    paid = "COALESCE(p.paid, 0)"
    fully_paid = f"p.paid >= i.amount - {HALF_CENT}"
    unpaid = f"i.amount - {paid} > {HALF_CENT}"
    late_paid = f"CASE WHEN p.last_on > i.due_on THEN {_days('p.last_on', 'i.due_on')} ELSE 0 END"
    sql = (
        f"SELECT i.customer_id, SUM(i.amount),"  # noqa: S608
        f" SUM(CASE WHEN i.due_on < {as_of} AND {unpaid} THEN i.amount - {paid} ELSE 0 END),"
        f" SUM(CASE WHEN {fully_paid} THEN (CASE WHEN p.last_on > {s24} THEN {late_paid} ELSE 0 END)"
        f" WHEN i.due_on < {as_of} THEN {_days(as_of, 'i.due_on')} ELSE 0 END),"
        f" SUM(CASE WHEN {fully_paid} THEN (CASE WHEN p.last_on > {s24} THEN 1 ELSE 0 END)"
        f" WHEN i.due_on < {as_of} THEN 1 ELSE 0 END)"
        f" FROM {_t(Invoice)} i{_whole(chunk)} LEFT JOIN ("
        f"SELECT invoice_id, SUM(amount) AS paid, MAX(received_on) AS last_on FROM {_t(Payment)}{_whole(chunk)}"
        f" WHERE invoice_id IS NOT NULL AND received_on <= {as_of} GROUP BY invoice_id"
        f") p ON p.invoice_id = i.id"
        f" WHERE i.status = %(issued)s AND i.issued_on <= {as_of}"
        f"{_ids_clause('i.customer_id', chunk, params)}"
        f" GROUP BY i.customer_id"
    )
    rows = _rows(sql, params)
    received: dict[int, Decimal] = {}
    if FactorCode.OVERDUE_SHARE in codes and rows:
        params = _order_params(scan.windows)
        sql = (
            f"SELECT customer_id, SUM(amount) FROM {_t(Payment)}{_whole(chunk)}"  # noqa: S608
            f" WHERE received_on <= {as_of}{_ids_clause('customer_id', chunk, params)}"
            f" GROUP BY customer_id"
        )
        received = {cid: to_decimal(s, CENT) or ZERO_MONEY for cid, s in _rows(sql, params)}
    late = scan.values.setdefault(FactorCode.DAYS_LATE, {})
    share = scan.values.setdefault(FactorCode.OVERDUE_SHARE, {})
    for cid, invoiced, overdue, late_days, late_n in rows:
        if late_n:
            days = to_decimal(late_days, RATIO) or Decimal(0)
            late[cid] = (days / Decimal(int(late_n))).quantize(TENTH, ROUND_HALF_UP)
        outstanding = (to_decimal(invoiced, CENT) or ZERO_MONEY) - received.get(cid, ZERO_MONEY)
        if outstanding > 0:
            overdue = min(to_decimal(overdue, CENT) or ZERO_MONEY, outstanding)
            share[cid] = (overdue / outstanding).quantize(RATIO, ROUND_HALF_UP)
        else:
            share[cid] = Decimal("0.0000")


def _scan_units(scan: FactorScan, chunk: list[int] | None, product_line_id: int | None) -> None:
    params = _order_params(scan.windows)
    line = ""
    if product_line_id is not None:
        params["line"] = product_line_id
        line = f" AND u.product_id IN (SELECT id FROM {_t(Product)} WHERE product_line_id = %(line)s)"  # noqa: S608
    sql = (
        f"SELECT s.customer_id, COUNT(*) FROM {_t(ShippedUnit)} u"  # noqa: S608
        f" JOIN {_t(ShipmentLine)} sl ON sl.id = u.shipment_line_id"
        f" JOIN {_t(Shipment)} s ON s.id = sl.shipment_id"
        f" WHERE s.shipped_on <= {_date('as_of')}{line}{_ids_clause('s.customer_id', chunk, params)}"
        f" GROUP BY s.customer_id"
    )
    units = scan.values.setdefault(FactorCode.INSTALLED_BASE, {})
    for cid, n in _rows(sql, params):
        units[cid] = Decimal(int(n))


def _scan_entered(scan: FactorScan, chunk: list[int] | None, codes: set[str]) -> None:
    qs = EnteredValue.objects.filter(code__in=sorted(codes)).order_by()
    if chunk is not None:
        qs = qs.filter(customer_id__in=chunk)
    for code in codes:
        scan.values.setdefault(code, {})
    for cid, code, value in qs.values_list("customer_id", "code", "value"):
        scan.values[code][cid] = to_decimal(value, RATIO)


Query = Callable[[], Any]
#: At most this many scans run side by side (each in its own thread and database connection).
PARALLEL_QUERIES = 4


def run_queries(queries: Sequence[Query], *, parallel: bool = False) -> list[Any]:
    """Run independent read-only queries and return their results in order — side by side in threads
    when ``parallel`` and the connection is not inside a transaction.

    Inside a transaction they run one after the other on this connection: another connection would
    not see this transaction's uncommitted rows (a preview of unsaved settings, a test). A thread
    closes its own connection when its query is done.
    """
    if not parallel or len(queries) < 2 or connection.in_atomic_block:
        return [q() for q in queries]

    def call(q: Query) -> Any:
        try:
            return q()
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=min(len(queries), PARALLEL_QUERIES)) as pool:
        futures = [pool.submit(call, q) for q in queries]
        return [f.result() for f in futures]


def factor_scan(
    *,
    as_of: dt.date,
    codes: Iterable[str] | None = None,
    customer_ids: Iterable[int] | None = None,
    product_line_id: int | None = None,
    parallel: bool = False,
    alongside: Sequence[Query] = (),
) -> tuple[FactorScan, list[Any]]:
    """The raw values of ``codes`` (default: every factor) for every customer, or ``customer_ids``.

    One query per source table that a requested factor needs (at most six: orders, costed order lines,
    invoices with their payments, payments, shipped units, entered values); ``customer_ids`` are read
    in chunks of 500 ids, each chunk with the same queries. With ``parallel`` the scans of all
    customers run side by side (:func:`run_queries`), and so do the ``alongside`` queries, whose
    results are returned with the scan. Unscoped (see the module docstring).
    """
    wanted = set(codes) if codes is not None else set(ALL_CODES)
    unknown = wanted - set(ALL_CODES)
    if unknown:
        raise ValueError(f"unknown factor codes: {sorted(unknown)}")
    scan = FactorScan(Windows.ending(as_of), tuple(c for c in ALL_CODES if c in wanted))
    for code in ALL_CODES:  # every dict exists before the scans fill them, possibly from threads
        scan.values[code] = {}
    entered = {str(c) for c in wanted & ENTERED_FACTORS}
    extra: list[Any] = []
    extra_done = False
    for chunk in _chunks(customer_ids):
        if chunk == []:
            continue
        queries: list[Query] = []
        if wanted & ORDER_CODES or (product_line_id is not None and FactorCode.GROSS_MARGIN in wanted):
            queries.append(partial(_scan_orders, scan, chunk, product_line_id))
        if FactorCode.GROSS_MARGIN in wanted and product_line_id is None:
            queries.append(partial(_scan_margin, scan, chunk))
        if wanted & {FactorCode.DAYS_LATE, FactorCode.OVERDUE_SHARE}:
            queries.append(partial(_scan_invoices, scan, chunk, wanted))
        if FactorCode.INSTALLED_BASE in wanted:
            queries.append(partial(_scan_units, scan, chunk, product_line_id))
        if entered:
            queries.append(partial(_scan_entered, scan, chunk, entered))
        if chunk is None and alongside:
            results = run_queries([*alongside, *queries], parallel=parallel)
            extra, extra_done = results[: len(alongside)], True
        else:
            run_queries(queries, parallel=parallel and chunk is None)
    if alongside and not extra_done:
        extra = run_queries(list(alongside))
    # Only what was asked for (a product-line scan also fills the other order factors).
    scan.values = {code: scan.values[code] for code in scan.codes}
    return scan, extra


def assessment_population(model_id: int) -> list[tuple[Any, ...]]:
    """Every live customer with its stored tier under the model, in id order (one query).

    Rows ``(customer_id, CustomerTier id, tier, pending_tier, pending_runs, override_tier,
    override_until, score)``; the CustomerTier columns are None for a customer never assessed.
    """
    sql = (
        f"SELECT c.id, ct.id, ct.tier, ct.pending_tier, ct.pending_runs, ct.override_tier,"  # noqa: S608
        f" ct.override_until, ct.score FROM {_t(Customer)} c LEFT JOIN {_t(CustomerTier)} ct"
        f" ON ct.customer_id = c.id AND ct.model_id = %(model)s"
        f" WHERE c.merged_into_id IS NULL ORDER BY c.id"
    )
    rows = _rows(sql, {"model": model_id})
    return [row if not row[5] else (*row[:6], _as_date(row[6]), *row[7:]) for row in rows]


def live_customer_ids(customer_ids: Iterable[int] | None = None) -> list[int]:
    """Ids of the customers that are assessed: not merged into another (all, or among ``customer_ids``)."""
    qs = Customer.objects.filter(merged_into__isnull=True).order_by("pk")
    if customer_ids is None:
        return list(qs.values_list("pk", flat=True))
    out: list[int] = []
    for chunk in _chunks(customer_ids):
        out.extend(qs.filter(pk__in=chunk).values_list("pk", flat=True))
    return out


# --- runs, assessments, tiers (scoped where they reach a person) -------------------------------


@dataclass(frozen=True)
class FactorRow:
    """One factor of a stored assessment, with Decimals (the JSON keeps them as exact strings)."""

    code: str
    label: Any
    raw: Decimal | None
    points: Decimal
    weight: Decimal


def _dec_or_none(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return Decimal(str(value))


def assessment_factor_rows(assessment: Assessment) -> list[FactorRow]:
    """The stored factors of ``assessment`` as :class:`FactorRow` (no query)."""
    labels = dict(FactorCode.choices)
    rows = []
    for item in assessment.factors or []:
        code = str(item.get("code", ""))
        rows.append(
            FactorRow(
                code=code,
                label=labels.get(code, code),
                raw=_dec_or_none(item.get("raw")),
                points=_dec_or_none(item.get("points")) or Decimal("0"),
                weight=_dec_or_none(item.get("weight")) or Decimal("0"),
            )
        )
    return rows


def run_list(*, model: TierModel | int | None = None) -> QuerySet[AssessmentRun]:
    """Assessment runs, newest first (runs are model-wide facts: callers gate them by role)."""
    qs = AssessmentRun.objects.select_related("model", "triggered_by")
    if model is not None:
        qs = qs.filter(model_id=getattr(model, "pk", model))
    return qs.order_by("-started_at", "-id")


def run_latest(*, model: TierModel | int) -> AssessmentRun | None:
    """The model's latest finished run, or None."""
    return run_list(model=model).filter(status="done").first()


def assessment_list(
    *,
    user: Any,
    run: AssessmentRun | int | None = None,
    customer: Customer | int | None = None,
    model: TierModel | int | None = None,
) -> QuerySet[Assessment]:
    """Assessments the user may see (through the customer), narrowed to a run, customer or model."""
    qs = Assessment.objects.visible_to(user).select_related("customer", "run")
    if run is not None:
        qs = qs.filter(run_id=getattr(run, "pk", run))
    if customer is not None:
        qs = qs.filter(customer_id=getattr(customer, "pk", customer))
    if model is not None:
        qs = qs.filter(run__model_id=getattr(model, "pk", model))
    return qs.order_by("-run_id", "customer_id")


def assessment_get(*, user: Any, pk: Any) -> Assessment:
    """One assessment the user may see; else 404."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404("No such assessment.")
    found = Assessment.objects.visible_to(user).select_related("customer", "run", "run__model").filter(pk=pk)
    assessment = found.first()
    if assessment is None:
        raise Http404("No such assessment.")
    return assessment


def latest_assessment_id() -> Subquery:
    """For a CustomerTier queryset: the id of the customer's latest assessment under the tier's model."""
    return Subquery(
        Assessment.objects.filter(customer_id=OuterRef("customer_id"), run__model_id=OuterRef("model_id"))
        .order_by("-run_id")
        .values("pk")[:1]
    )


def latest_assessments(tiers: Iterable[CustomerTier]) -> dict[int, Assessment]:
    """``{CustomerTier id: the customer's latest assessment under that model}`` (one query).

    The tiers must carry ``latest_assessment_id`` (annotate them with :func:`latest_assessment_id`).
    """
    ids = {ct.pk: ct.latest_assessment_id for ct in tiers if ct.latest_assessment_id is not None}
    if not ids:
        return {}
    found = Assessment.objects.select_related("run").in_bulk(set(ids.values()))
    return {ct_id: found[aid] for ct_id, aid in ids.items() if aid in found}


def customer_tiers(*, user: Any, customer: Customer | int) -> list[CustomerTier]:
    """The customer's tier under every model (global first), if the user may see the customer.

    Each carries ``last_assessment``: the customer's latest assessment under that model, or None.
    """
    pk = getattr(customer, "pk", customer)
    tiers = list(
        CustomerTier.objects.visible_to(user)
        .filter(customer_id=pk)
        .select_related("model", "model__product_line")
        .annotate(latest_assessment_id=latest_assessment_id())
        .order_by("model__product_line__sort_order", "model__code")
    )
    latest = latest_assessments(tiers)
    for ct in tiers:
        ct.last_assessment = latest.get(ct.pk)
    return tiers


def tier_distribution(
    *, model: TierModel | int, customer_ids: Sequence[int] | QuerySet | None = None
) -> dict:
    """``{tier: customers}`` of the model's assessed tiers (not scoped unless ``customer_ids`` is given)."""
    qs = CustomerTier.objects.filter(model_id=getattr(model, "pk", model))
    if customer_ids is not None:
        qs = qs.filter(customer_id__in=customer_ids)
    return dict(qs.order_by().values_list("tier").annotate(n=Count("pk")).values_list("tier", "n"))
