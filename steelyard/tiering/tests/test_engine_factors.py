"""Factor values computed in SQL, checked against numbers worked out by hand."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest

from steelyard.customers.testing import make_customer
from steelyard.orders.models import (
    Invoice,
    InvoiceStatus,
    OrderLine,
    OrderStatus,
    Payment,
    Shipment,
    ShipmentLine,
    ShippedUnit,
)
from steelyard.orders.selectors import balances_for
from steelyard.orders.testing import make_order, make_product, make_product_line
from steelyard.tiering.models import EnteredValue
from steelyard.tiering.selectors.assessment import Windows, years_back
from steelyard.tiering.services.assessment import factor_values

D = Decimal
AS_OF = dt.date(2026, 6, 30)
_n = itertools.count(1)


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def order(customer, ordered_on: str, lines, *, status=OrderStatus.CONFIRMED, costs=()):
    o = make_order(customer, lines=lines, ordered_on=day(ordered_on), status=status)
    for line_no, cost in costs:
        OrderLine.objects.filter(order=o, line_no=line_no).update(unit_cost=D(cost))
    return o


def invoice(customer, amount: str, due: str, *, status=InvoiceStatus.ISSUED) -> Invoice:
    due_on = day(due)
    return Invoice.objects.create(
        number=f"INV{next(_n):05d}",
        customer=customer,
        issued_on=due_on - dt.timedelta(days=30),
        due_on=due_on,
        amount=D(amount),
        status=status,
    )


def pay(customer, amount: str, received: str, inv: Invoice | None = None) -> Payment:
    return Payment.objects.create(
        number=f"PAY{next(_n):05d}",
        customer=customer,
        invoice=inv,
        received_on=day(received),
        amount=D(amount),
    )


def ship(order_, line_no: int, serials: list[str], shipped: str) -> None:
    line = OrderLine.objects.get(order=order_, line_no=line_no)
    shipment = Shipment.objects.create(
        number=f"SH{next(_n):05d}", order=order_, customer=order_.customer, shipped_on=day(shipped)
    )
    sl = ShipmentLine.objects.create(shipment=shipment, order_line=line, quantity=len(serials))
    for s in serials:
        ShippedUnit.objects.create(shipment_line=sl, product=line.product, serial_number=s)


@pytest.fixture
def world(db):
    return build_world()


def build_world() -> dict:
    crane_line, engine_line = (
        make_product_line("CRANE", name="起重机"),
        make_product_line("ENGINE", name="发动机"),
    )
    crane, engine = make_product(line=crane_line), make_product(line=engine_line)
    a, b, c = (
        make_customer(name="甲建设集团有限公司"),
        make_customer(name="乙公司"),
        make_customer(name="丙公司"),
    )
    merged = make_customer(name="丁公司", merged_into=a)

    # Customer A: orders in both windows, one cancelled, one after the day, one older than 24 months.
    o1 = order(a, "2026-03-01", [(crane, 2, "1000000")], costs=[(1, "700000")])
    order(a, "2025-09-15", [(crane, 1, "500000"), (engine, 3, "100000")], costs=[(2, "60000")])
    order(a, "2025-03-01", [(crane, 1, "1400000")])
    order(a, "2026-05-01", [(crane, 1, "9999999")], status=OrderStatus.CANCELLED)
    order(a, "2026-07-05", [(crane, 1, "3000000")])
    order(a, "2024-05-01", [(crane, 1, "700000")])
    # Its invoices: paid 10 days late, paid early, overdue 20 days so far, not due yet, paid long ago, cancelled.
    i1 = invoice(a, "1000000", "2026-01-31")
    pay(a, "500000", "2026-01-20", i1)
    pay(a, "500000", "2026-02-10", i1)
    i2 = invoice(a, "800000", "2025-10-31")
    pay(a, "800000", "2025-10-25", i2)
    i3 = invoice(a, "600000", "2026-06-10")
    pay(a, "100000", "2026-06-01", i3)
    i4 = invoice(a, "400000", "2026-07-20")  # issued 20 June, not due yet
    pay(a, "50000", "2026-07-10", i4)  # after the day: ignored
    i5 = invoice(a, "300000", "2024-01-31")
    pay(a, "300000", "2024-03-01", i5)
    invoice(a, "5000000", "2025-01-01", status=InvoiceStatus.CANCELLED)
    pay(a, "200000", "2026-06-15")  # on account, no invoice
    ship(o1, 1, ["CR-1", "CR-2"], "2026-03-20")
    ship(o1, 1, ["CR-3"], "2026-07-02")  # shipped after the day
    EnteredValue.objects.create(customer=a, code="potential", value=D("30000000"))
    EnteredValue.objects.create(customer=a, code="strategic_fit", value=D("4"))

    # Customer C: revenue only in the earlier year, invoices all paid early (nothing outstanding).
    order(c, "2024-12-01", [(engine, 1, "1000000")])
    i7 = invoice(c, "1000000", "2025-01-31")
    pay(c, "1000000", "2025-01-15", i7)
    return {"a": a, "b": b, "c": c, "merged": merged, "crane_line": crane_line, "engine_line": engine_line}


def test_windows_step_back_whole_years():
    assert Windows.ending(AS_OF) == Windows(AS_OF, day("2025-06-30"), day("2024-06-30"))
    assert years_back(day("2024-02-29"), 1) == day("2023-02-28")


def test_it_computes_every_factor_as_worked_out_by_hand(world):
    values = factor_values(as_of=AS_OF)
    a, b, c = world["a"].pk, world["b"].pk, world["c"].pk
    assert values[a] == {
        "revenue_12m": D("2800000.00"),  # 2,000,000 + 800,000
        "gross_margin": D("0.3130"),  # (2,300,000 − 1,580,000) / 2,300,000 over the costed lines
        "revenue_growth": D("1.0000"),  # 2,800,000 / 1,400,000 − 1
        "days_late": D("10.0"),  # (10 + 0 + 20) / 3
        "overdue_share": D("0.7143"),  # 500,000 overdue / 700,000 outstanding
        "purchase_frequency": D("3"),
        "recency_days": D("121"),  # 1 March → 30 June
        "installed_base": D("2"),
        "potential": D("30000000.0000"),
        "strategic_fit": D("4.0000"),
    }
    assert values[b] == {
        "revenue_12m": D("0.00"),
        "gross_margin": None,
        "revenue_growth": None,
        "days_late": None,
        "overdue_share": None,
        "purchase_frequency": D("0"),
        "recency_days": None,
        "installed_base": D("0"),
        "potential": None,
        "strategic_fit": None,
    }
    assert values[c]["revenue_12m"] == D("0.00")
    assert values[c]["revenue_growth"] == D("-1.0000")
    assert values[c]["days_late"] == D("0.0")
    assert values[c]["overdue_share"] == D("0.0000")
    assert values[c]["purchase_frequency"] == D("1")
    assert values[c]["recency_days"] == D(str((AS_OF - day("2024-12-01")).days))
    assert world["merged"].pk not in values


def test_it_reads_the_given_customers_and_factors_only(world):
    values = factor_values(as_of=AS_OF, customer_ids=[world["b"].pk, world["c"].pk], codes=["revenue_growth"])
    assert values == {
        world["b"].pk: {"revenue_growth": None},
        world["c"].pk: {"revenue_growth": D("-1.0000")},
    }


def test_the_overdue_share_agrees_with_the_order_balances(world):
    c = world["c"]
    order(c, "2026-01-10", [(make_product(), 1, "500000")])
    inv = invoice(c, "500000", "2026-05-31")
    pay(c, "120000", "2026-06-05", inv)
    pay(c, "30000", "2026-06-20")
    bal = balances_for([c.pk], today=AS_OF)[c.pk]
    share = factor_values(as_of=AS_OF, customer_ids=[c.pk], codes=["overdue_share"])[c.pk]["overdue_share"]
    # 380,000 left on the invoice, capped at the 350,000 outstanding (money on account covers it first).
    assert (bal.overdue, bal.outstanding) == (D("350000.00"), D("350000.00"))
    assert share == (bal.overdue / bal.outstanding).quantize(D("0.0001")) == D("1.0000")


def test_a_product_line_counts_only_its_own_lines_and_units(world):
    a = world["a"].pk
    crane = factor_values(as_of=AS_OF, customer_ids=[a], product_line_id=world["crane_line"].pk)[a]
    assert crane["revenue_12m"] == D("2500000.00")  # 2,000,000 + 500,000 (the engine line is not counted)
    assert crane["gross_margin"] == D("0.3000")  # only the costed crane line
    assert crane["revenue_growth"] == D("0.7857")  # 2.5M / 1.4M − 1
    assert crane["purchase_frequency"] == D("3")
    assert crane["installed_base"] == D("2")
    assert crane["days_late"] == D("10.0")  # payments stay customer-wide
    engine = factor_values(as_of=AS_OF, customer_ids=[a], product_line_id=world["engine_line"].pk)[a]
    assert engine["revenue_12m"] == D("300000.00")
    assert engine["gross_margin"] == D("0.4000")
    assert engine["revenue_growth"] is None
    assert engine["purchase_frequency"] == D("1")
    assert engine["recency_days"] == D("288")
    assert engine["installed_base"] == D("0")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_scans_side_by_side_agree_with_the_scans_in_turn():
    """Outside a transaction the scans run in threads with their own connections; same numbers.

    Committed rows (threads see only those); the data migrations' rows are put back afterwards.
    """
    from django.db import connection

    from steelyard.tiering.selectors.assessment import factor_scan

    w = build_world()
    assert not connection.in_atomic_block
    threads, _ = factor_scan(as_of=AS_OF, parallel=True)
    in_turn, _ = factor_scan(as_of=AS_OF)
    assert threads.values == in_turn.values
    assert threads.values["revenue_12m"][w["a"].pk] == D("2800000.00")
