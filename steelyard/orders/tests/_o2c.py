"""Arranging order-to-cash tests: a hand-built customer history with known balances.

``book(customer, today)`` builds, for one customer (dates relative to ``today``):

- SO-A: 2 cranes × 1,000,000 = 2,000,000, one shipped (partial shipment, serial CR-0001) → status shipped
- SO-B: 1 × 500,000, confirmed, nothing shipped
- SO-C: 300,000, cancelled (left out of "ordered")
- SO-D: 200,000, fully shipped and accepted (closed)
- INV-1 1,000,000 for SO-A, due 30 days ago: paid 400,000 on time and 100,000.25 late → 499,999.75 overdue
- INV-2 200,000 for SO-D, due in 10 days, unpaid (not overdue)
- INV-3 50,000 cancelled (left out)
- INV-4 80,000 due 5 days ago, overpaid with 100,000 (clamped: adds nothing to overdue)
- PAY-4 30,000 received on account (no invoice)

so: ordered 2,700,000; shipped 1,200,000; open 1,500,000; invoiced 1,280,000; received 630,000.25;
outstanding 649,999.75; overdue 499,999.75.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

from django.utils import timezone

from steelyard.orders.models import (
    Contract,
    Invoice,
    InvoiceStatus,
    OrderStatus,
    OrderStatusEvent,
    Payment,
    SalesOrder,
    Shipment,
    ShipmentLine,
    ShippedUnit,
)
from steelyard.orders.testing import make_order, make_product, make_product_line

_seq = itertools.count(1)

EXPECTED = {
    "ordered": Decimal("2700000.00"),
    "shipped": Decimal("1200000.00"),
    "invoiced": Decimal("1280000.00"),
    "received": Decimal("630000.25"),
    "outstanding": Decimal("649999.75"),
    "overdue": Decimal("499999.75"),
    "open_order_value": Decimal("1500000.00"),
}


def at_day(day: dt.date, hour: int = 10) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, 0)))


def add_event(order: SalesOrder, status: str, at: dt.datetime, source: str = "erp", **kw: Any) -> None:
    """A timeline row and the order's status as order_record_status would leave it (arranging only)."""
    OrderStatusEvent.objects.create(order=order, status=status, at=at, source=source, **kw)
    SalesOrder.objects.filter(pk=order.pk).update(status=status, status_at=at)
    order.refresh_from_db()


def ship(
    order: SalesOrder, line_qty: list[tuple[Any, Any, list[str]]], *, on: dt.date, amount: Any
) -> Shipment:
    """A shipment of ``[(order_line, qty, [serials])]`` worth ``amount``."""
    s = Shipment.objects.create(
        number=f"SH{next(_seq):05d}",
        order=order,
        customer=order.customer,
        shipped_on=on,
        carrier="德邦物流",
        tracking_no=f"DB{next(_seq):08d}",
        amount=Decimal(str(amount)),
    )
    for line, qty, serials in line_qty:
        sl = ShipmentLine.objects.create(shipment=s, order_line=line, quantity=qty)
        for serial in serials:
            ShippedUnit.objects.create(shipment_line=sl, product=line.product, serial_number=serial)
    return s


def invoice(
    customer: Any, amount: Any, *, order: Any = None, issued: dt.date, due: dt.date, **kw: Any
) -> Invoice:
    return Invoice.objects.create(
        number=kw.pop("number", f"INV{next(_seq):05d}"),
        customer=customer,
        order=order,
        issued_on=issued,
        due_on=due,
        amount=Decimal(str(amount)),
        **kw,
    )


def pay(customer: Any, amount: Any, *, on: dt.date, invoice: Any = None, **kw: Any) -> Payment:
    return Payment.objects.create(
        number=kw.pop("number", f"PAY{next(_seq):05d}"),
        customer=customer,
        invoice=invoice,
        received_on=on,
        amount=Decimal(str(amount)),
        method=kw.pop("method", "电汇"),
        **kw,
    )


def book(customer: Any, today: dt.date | None = None, *, prefix: str = "") -> dict[str, Any]:
    """The hand-built history described in the module docstring; returns its records by name."""
    today = today or timezone.localdate()
    day = lambda n: today - dt.timedelta(days=n)  # noqa: E731
    line = make_product_line("CRANE", name="起重机")
    crane = make_product(line=line, name="门座式起重机 MQ2535", price="1000000")
    hoist = make_product(
        line=make_product_line("HOIST", name="电动葫芦"), name="电动葫芦 CD1", price="500000"
    )
    contract = Contract.objects.create(
        number=f"{prefix}HT-2025-001",
        customer=customer,
        title="港口门机采购合同",
        signed_on=day(95),
        amount=Decimal("2700000"),
    )
    a = make_order(customer, number=f"{prefix}SO-A", lines=[(crane, 2, "1000000")], at=at_day(day(90)))
    SalesOrder.objects.filter(pk=a.pk).update(contract=contract, ordered_on=day(90))
    add_event(a, OrderStatus.SCHEDULED, at_day(day(80)))
    add_event(a, OrderStatus.IN_PRODUCTION, at_day(day(70)), source="mes")
    add_event(a, OrderStatus.SHIPPED, at_day(day(61)))
    ship(a, [(a.lines.get(), 1, [f"{prefix}CR-0001"])], on=day(61), amount="1000000")
    b = make_order(customer, number=f"{prefix}SO-B", lines=[(hoist, 1, "500000")], at=at_day(day(20)))
    c = make_order(customer, number=f"{prefix}SO-C", lines=[(hoist, 1, "300000")], at=at_day(day(40)))
    add_event(c, OrderStatus.CANCELLED, at_day(day(39)), source="crm")
    d = make_order(customer, number=f"{prefix}SO-D", lines=[(hoist, 1, "200000")], at=at_day(day(50)))
    add_event(d, OrderStatus.SHIPPED, at_day(day(45)))
    ship(d, [(d.lines.get(), 1, [f"{prefix}HO-0001"])], on=day(45), amount="200000")
    add_event(d, OrderStatus.ACCEPTED, at_day(day(30)), source="crm")
    i1 = invoice(customer, "1000000", order=a, issued=day(60), due=day(30), number=f"{prefix}INV-1")
    i2 = invoice(
        customer, "200000", order=d, issued=day(5), due=today + dt.timedelta(days=10), number=f"{prefix}INV-2"
    )
    invoice(
        customer,
        "50000",
        issued=day(50),
        due=day(20),
        status=InvoiceStatus.CANCELLED,
        number=f"{prefix}INV-3",
    )
    i4 = invoice(customer, "80000", issued=day(35), due=day(5), number=f"{prefix}INV-4")
    pay(customer, "400000", on=day(35), invoice=i1, number=f"{prefix}PAY-1")
    pay(customer, "100000.25", on=day(10), invoice=i1, number=f"{prefix}PAY-2")
    pay(customer, "100000", on=day(6), invoice=i4, number=f"{prefix}PAY-3")
    pay(customer, "30000", on=day(3), number=f"{prefix}PAY-4")
    return {"contract": contract, "a": a, "b": b, "c": c, "d": d, "i1": i1, "i2": i2, "i4": i4}
