"""Reading order-to-cash records: orders and their timeline, contracts, shipments, invoices, payments,
and the money balances of customers.

Every list and record that reaches a person comes from ``Model.objects.visible_to(user)``; all of
these models are scoped through their customer, so a person sees a customer's orders exactly when
they see the customer. :func:`balances_for` is the one unscoped reader: it is for modules that
have already decided which customers they are looking at (see its docstring).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from django.db.models import (
    DecimalField,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Greatest
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from steelyard.core.scopes import VIEW, scope_q, user_scope
from steelyard.core.selectors.history import HistoryEntry, record_history
from steelyard.customers.models import Customer
from steelyard.orders.models import (
    OPEN_STATUSES,
    STATUS_RANK,
    Contract,
    Invoice,
    InvoiceStatus,
    OrderLine,
    OrderStatus,
    OrderStatusEvent,
    Payment,
    SalesOrder,
    Shipment,
    ShipmentLine,
)

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
MONEY = DecimalField(max_digits=20, decimal_places=2)
QTY = DecimalField(max_digits=18, decimal_places=3)
#: The happy path an order walks, in order (``cancelled`` ends it instead).
HAPPY_PATH = [s for s in OrderStatus.values if s != OrderStatus.CANCELLED]
BALANCE_CHUNK = 500
HISTORY_LIMIT = 50


def _pk(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404("No such record.")


def _sum_by(qs: QuerySet, group: str, expr: Any) -> Any:
    """``(SELECT SUM(expr) FROM qs GROUP BY group)`` correlated on the outer row's pk, 0 when none."""
    sub = qs.filter(**{group: OuterRef("pk")}).order_by().values(group).annotate(s=Sum(expr)).values("s")
    return Coalesce(Subquery(sub, output_field=MONEY), Value(ZERO), output_field=MONEY)


def paid_amount() -> Any:
    """The payments allocated to the outer invoice (an expression for ``annotate(paid=...)``)."""
    return _sum_by(Payment.objects.all(), "invoice_id", "amount")


def o2c_scoped(*, user: Any) -> Any:
    """``visible_to(user)`` for the order-to-cash models, with the scope resolved once.

    Contracts, orders, shipments, invoices and payments are all scoped through their customer by
    the same rule (``CustomerScoped``: customer owner, customer unit, the customer's pool), so the
    filter built for one fits every other. A page showing several of them (the customer 360 page,
    the order page) looks the user's team and pools up once instead of once per model. Returns
    ``scoped(Model) -> QuerySet``; ``test_scoping`` checks it against each model's ``visible_to``.
    """
    if user_scope(user) is None:
        return lambda model: model.objects.none()
    q = scope_q(SalesOrder, user, VIEW)
    return lambda model: model.objects.all() if q is None else model.objects.filter(q)


# --- balances ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Balances:
    """A customer's money position, all in the customer's (single) currency, rounded to cents.

    - ``ordered``: Σ amount of the customer's orders that are not cancelled.
    - ``shipped``: Σ value of every shipment to the customer.
    - ``invoiced``: Σ amount of issued (not cancelled) invoices.
    - ``received``: Σ of every payment received, whether or not it names an invoice.
    - ``outstanding``: ``invoiced − received`` (negative when the customer paid in advance).
    - ``overdue``: for each issued invoice whose ``due_on`` has passed (``due_on < today``), what is
      left after the payments allocated to *that* invoice (never below zero per invoice); the total
      is then capped at ``max(outstanding, 0)``, so money received on account without naming an
      invoice still covers the oldest debts first and overdue never exceeds what is owed.
    - ``open_order_value``: for each open order (not yet accepted, not cancelled), its amount minus
      the value shipped against it (never below zero per order), summed.
    """

    ordered: Decimal = ZERO
    shipped: Decimal = ZERO
    invoiced: Decimal = ZERO
    received: Decimal = ZERO
    outstanding: Decimal = ZERO
    overdue: Decimal = ZERO
    open_order_value: Decimal = ZERO

    def as_dict(self) -> dict[str, Decimal]:
        return asdict(self)


def _balance_columns(today: dt.date) -> dict[str, Any]:
    shipped_per_order = _sum_by(Shipment.objects.all(), "order_id", "amount")
    open_rest = Greatest(F("amount") - shipped_per_order, Value(ZERO), output_field=MONEY)
    paid = paid_amount()
    overdue_rest = Greatest(F("amount") - paid, Value(ZERO), output_field=MONEY)
    issued = Invoice.objects.filter(status=InvoiceStatus.ISSUED)
    return {
        "b_ordered": _sum_by(
            SalesOrder.objects.exclude(status=OrderStatus.CANCELLED), "customer_id", "amount"
        ),
        "b_shipped": _sum_by(Shipment.objects.all(), "customer_id", "amount"),
        "b_invoiced": _sum_by(issued, "customer_id", "amount"),
        "b_received": _sum_by(Payment.objects.all(), "customer_id", "amount"),
        "b_overdue": _sum_by(issued.filter(due_on__lt=today), "customer_id", overdue_rest),
        "b_open": _sum_by(SalesOrder.objects.filter(status__in=OPEN_STATUSES), "customer_id", open_rest),
    }


def _cents(value: Any) -> Decimal:
    return Decimal(value if value is not None else 0).quantize(CENT)


def _balances_row(row: Mapping[str, Any]) -> Balances:
    invoiced, received = _cents(row["b_invoiced"]), _cents(row["b_received"])
    outstanding = invoiced - received
    return Balances(
        ordered=_cents(row["b_ordered"]),
        shipped=_cents(row["b_shipped"]),
        invoiced=invoiced,
        received=received,
        outstanding=outstanding,
        overdue=min(_cents(row["b_overdue"]), max(outstanding, ZERO)),
        open_order_value=_cents(row["b_open"]),
    )


def balances_for(
    customer_ids: Iterable[int] | QuerySet, *, today: dt.date | None = None
) -> dict[int, Balances]:
    """The :class:`Balances` of many customers at once: ``{customer_id: Balances}``.

    The contract for callers (tiering, finance credit exposure, dashboards):

    - **Not scoped.** The caller decides which customers it may look at; pass the ids of customers
      the viewer can see (or a ``values("pk")`` queryset of them) when the result reaches a person.
    - ``customer_ids`` is a list/set of ids or a queryset of customer pks (it is then used as a
      subquery: no id list travels, good for "every customer of a region"). Ids are read in chunks
      of 500, each chunk in **one** SQL statement: one row per customer, each figure a correlated
      ``SUM … GROUP BY customer`` over its table (indexed by customer), so the cost grows with the
      customers asked for, never with a Python loop over orders or invoices.
    - Every existing customer asked for is in the result, with zeros when it has no records;
      ids that are not customers are left out (use ``result.get(pk, Balances())``).
    - ``today`` (default: today in the local time zone) is the day "overdue" is measured on.
    - Amounts are summed as stored, whatever their currency (one currency per customer is assumed).
    """
    today = today or timezone.localdate()
    columns = _balance_columns(today)
    names = ["pk", *columns]
    out: dict[int, Balances] = {}
    if isinstance(customer_ids, QuerySet):
        chunks: list[Any] = [customer_ids]
    else:
        ids = sorted({int(i) for i in customer_ids})
        chunks = [ids[i : i + BALANCE_CHUNK] for i in range(0, len(ids), BALANCE_CHUNK)]
    for chunk in chunks:
        rows = Customer.objects.filter(pk__in=chunk).order_by().annotate(**columns).values(*names)
        for row in rows:
            out[row["pk"]] = _balances_row(row)
    return out


def customer_balances(*, user: Any, customer: Customer | int, today: dt.date | None = None) -> Balances:
    """The balances of one customer the user may see (one query for the figures); else 404."""
    pk = _pk(getattr(customer, "pk", customer))
    visible = Customer.objects.visible_to(user).filter(pk=pk).values("pk")
    found = balances_for(visible, today=today)
    if pk not in found:
        raise Http404("No such customer.")
    return found[pk]


# --- orders -------------------------------------------------------------------------------------


def order_base(*, user: Any, action: str = VIEW) -> QuerySet[SalesOrder]:
    """Orders the user may see (or ``action``)."""
    return SalesOrder.objects.visible_to(user, action)


def order_list(*, user: Any, filters: Mapping[str, Any] | None = None) -> QuerySet[SalesOrder]:
    """The orders list: scoped, filtered and sorted by :class:`OrderFilter`, rows ready to show."""
    from steelyard.orders.filters import OrderFilter

    qs = order_base(user=user).select_related("customer", "contract")
    return OrderFilter(filters or {}, user=user).apply(qs)


def order_get(*, user: Any, pk: Any, action: str = VIEW) -> SalesOrder:
    """One order the user may see (or ``action``); else 404."""
    order = (
        order_base(user=user, action=action)
        .select_related("customer", "customer__owner", "contract", "plant")
        .filter(pk=_pk(pk))
        .first()
    )
    if order is None:
        raise Http404("No such order.")
    return order


@dataclass
class TimelineStep:
    """One row of an order's timeline: a recorded event, or a step still ahead (``state="future"``)."""

    status: str
    label: Any
    state: str  # "done", "current", "cancelled", "future"
    at: dt.datetime | None = None
    actor: Any = None
    source: str = ""
    note: str = ""

    @property
    def who(self) -> str:
        if self.actor is not None:
            return str(self.actor)
        if not self.source:
            return ""
        return str(_("Steelyard")) if self.source == "crm" else self.source.upper()


def order_timeline(order: SalesOrder, events: Iterable[OrderStatusEvent] | None = None) -> list[TimelineStep]:
    """The order's recorded steps in time order, then the happy-path steps still ahead.

    The step that made the order's current status is ``current``; a cancelled order has no
    steps ahead. ``events`` may be passed when already loaded (else one query).
    """
    if events is None:
        events = order.status_events.select_related("actor").order_by("at", "id")
    labels = dict(OrderStatus.choices)
    steps: list[TimelineStep] = []
    current_marked = False
    rows = list(events)
    for e in rows:
        is_current = not current_marked and e.status == order.status and e.at == order.status_at
        current_marked = current_marked or is_current
        state = "cancelled" if e.status == OrderStatus.CANCELLED else ("current" if is_current else "done")
        steps.append(
            TimelineStep(e.status, labels.get(e.status, e.status), state, e.at, e.actor, e.source, e.note)
        )
    if order.status != OrderStatus.CANCELLED:
        rank = STATUS_RANK.get(order.status, -1)
        steps += [TimelineStep(s, labels[s], "future") for s in HAPPY_PATH if STATUS_RANK[s] > rank]
    return steps


def order_history(order: SalesOrder, *, limit: int = HISTORY_LIMIT) -> list[HistoryEntry]:
    """What changed on the order and when (newest first), from its simple_history rows (one query)."""
    # Related rows the order has loaded already name themselves; others show as "#id" (no query each).
    known = {
        (name, getattr(order, f"{name}_id")): getattr(order, name)
        for name in ("customer", "contract", "plant")
        if getattr(order, f"{name}_id") and name in order._state.fields_cache
    }
    return record_history(order, known=known, limit=limit)


@dataclass
class OrderDetail:
    order: SalesOrder
    lines: list[OrderLine]
    timeline: list[TimelineStep]
    shipments: list[Shipment]
    invoices: list[Invoice]
    payments: list[Payment]
    history: list[HistoryEntry]
    totals: dict[str, Decimal]


def order_lines(order: SalesOrder) -> list[OrderLine]:
    """The order's lines with product, product line and the quantity shipped so far (one query)."""
    shipped = (
        ShipmentLine.objects.filter(order_line_id=OuterRef("pk"))
        .order_by()
        .values("order_line_id")
        .annotate(s=Sum("quantity"))
        .values("s")
    )
    return list(
        OrderLine.objects.filter(order=order)
        .select_related("product", "product__product_line")
        .annotate(
            shipped_qty=Coalesce(Subquery(shipped, output_field=QTY), Value(Decimal("0")), output_field=QTY)
        )
        .order_by("line_no")
    )


def order_detail(*, user: Any, pk: Any) -> OrderDetail:
    """Everything the order page shows, each part scoped and read in one query."""
    scoped = o2c_scoped(user=user)
    order = (
        scoped(SalesOrder)
        .select_related("customer", "customer__owner", "contract", "plant")
        .filter(pk=_pk(pk))
        .first()
    )
    if order is None:
        raise Http404("No such order.")
    lines = order_lines(order)
    timeline = order_timeline(order)
    shipments = list(
        scoped(Shipment)
        .filter(order=order)
        .prefetch_related(
            Prefetch(
                "lines",
                ShipmentLine.objects.select_related("order_line", "order_line__product")
                .prefetch_related("units")
                .order_by("order_line__line_no"),
            )
        )
        .order_by("shipped_on", "id")
    )
    invoices = list(
        scoped(Invoice).filter(order=order).annotate(paid=paid_amount()).order_by("issued_on", "id")
    )
    payments = list(
        scoped(Payment).filter(invoice__order=order).select_related("invoice").order_by("received_on", "id")
    )
    totals = {
        # Rows of one order, all shown on the page: summing what is already loaded costs no query.
        "shipped": sum((s.amount for s in shipments), ZERO),
        "invoiced": sum((i.amount for i in invoices if i.status == InvoiceStatus.ISSUED), ZERO),
        "paid": sum((p.amount for p in payments), ZERO),
    }
    totals["open"] = max(order.amount - totals["shipped"], ZERO) if order.is_open else ZERO
    return OrderDetail(order, lines, timeline, shipments, invoices, payments, order_history(order), totals)


def order_recent_status(*, user: Any, days: int = 14, limit: int = 8, mine: bool = False) -> list[SalesOrder]:
    """Open orders whose status changed in the last ``days`` days, newest change first (home widget)."""
    since = timezone.now() - dt.timedelta(days=days)
    qs = order_base(user=user).filter(status_at__gte=since)
    if mine:
        qs = qs.filter(customer__owner=user)
    return list(qs.select_related("customer").order_by("-status_at", "-id")[:limit])


def order_search(*, user: Any, q: str, limit: int = 10) -> list[SalesOrder]:
    q = (q or "").strip()
    if not q:
        return []
    return list(
        order_base(user=user)
        .filter(number__icontains=q)
        .select_related("customer")
        .order_by("-ordered_on", "-id")[:limit]
    )


# --- contracts ----------------------------------------------------------------------------------


def contract_list(*, user: Any, filters: Mapping[str, Any] | None = None) -> QuerySet[Contract]:
    from steelyard.orders.filters import ContractFilter

    qs = Contract.objects.visible_to(user).select_related("customer")
    return ContractFilter(filters or {}, user=user).apply(qs)


def contract_get(*, user: Any, pk: Any) -> Contract:
    contract = (
        Contract.objects.visible_to(user).select_related("customer", "signed_by").filter(pk=_pk(pk)).first()
    )
    if contract is None:
        raise Http404("No such contract.")
    return contract


def contract_search(*, user: Any, q: str, limit: int = 10) -> list[Contract]:
    q = (q or "").strip()
    if not q:
        return []
    return list(
        Contract.objects.visible_to(user)
        .filter(Q(number__icontains=q) | Q(title__icontains=q))
        .select_related("customer")
        .order_by("-signed_on", "-id")[:limit]
    )


# --- shipments, invoices, payments ---------------------------------------------------------------


def shipment_list(*, user: Any, filters: Mapping[str, Any] | None = None) -> QuerySet[Shipment]:
    from steelyard.orders.filters import ShipmentFilter

    qs = Shipment.objects.visible_to(user).select_related("customer", "order")
    return ShipmentFilter(filters or {}, user=user).apply(qs)


def invoice_list(*, user: Any, filters: Mapping[str, Any] | None = None) -> QuerySet[Invoice]:
    """Invoices with ``paid`` (payments allocated to each) annotated; ``overdue``/``unpaid`` filter on it."""
    from steelyard.orders.filters import InvoiceFilter

    qs = Invoice.objects.visible_to(user).select_related("customer", "order").annotate(paid=paid_amount())
    return InvoiceFilter(filters or {}, user=user).apply(qs)


def payment_list(*, user: Any, filters: Mapping[str, Any] | None = None) -> QuerySet[Payment]:
    from steelyard.orders.filters import PaymentFilter

    qs = Payment.objects.visible_to(user).select_related("customer", "invoice")
    return PaymentFilter(filters or {}, user=user).apply(qs)


def customer_for_filter(*, user: Any, pk: Any) -> Customer | None:
    """The customer a list is narrowed to (for its "customer: …" chip), if the user may see it."""
    if not pk:
        return None
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        return None
    return Customer.objects.visible_to(user).filter(pk=pk).only("pk", "legal_name").first()
