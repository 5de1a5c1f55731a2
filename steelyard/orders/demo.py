"""Two years of order-to-cash for the demo customers of 衡远重工: plants, capacity, contracts, orders,
status timelines, production (MES work orders), shipments with serial numbers, invoices and payments.

How it is built
- Each demo customer (``customers.demo.plan_demo_customers``) that has bought something
  (status active, dormant or lost) gets a history *planned* by :func:`plan_customer_history` from
  the seed, the customer's position in the plan and today's date alone — a pure function, so the
  same seed on the same day gives the same history.
- The plan is then bulk-inserted (it is seeding, not a user action: no events, no webhooks, no
  audit rows). A customer that already has orders is skipped, so ``seed_demo`` can run again and
  creates nothing.
- Invariants hold by construction: a line's amount is quantity × unit price, an order's amount is
  the sum of its lines, a contract's the sum of its orders (cancelled ones left out), a shipment's
  value the sum of quantity × unit price of what it carried, an invoice never exceeds what was
  shipped (or the services rendered), payments never exceed their invoice, and an order's status is
  the furthest step of its timeline (``orders.services.status.current_status``).
- The demo ``rep`` gets, on top of his customers' histories, one order in production, one shipped
  this week and one just scheduled.
- Customers get their ``first_order_date``; the latest confirmed order feeds the pool clock's deal
  date through ``customer_record_event``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from random import Random
from typing import Any

from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.utils import timezone

from steelyard.catalog.demo import MACHINES, SERVICES, MachineSpec, option_code, part_code, service_code
from steelyard.core.demo import DemoContext, seeder

CENT = Decimal("0.01")
VAT = Decimal("0.13")

# code, name
PLANTS: list[tuple[str, str]] = [
    ("XZ", "徐州起重机械厂"),
    ("WF", "潍坊动力装备厂"),
    ("ZZ", "株洲轨道交通装备厂"),
]
# (plant, line) → units a month; a plant that does not build a line publishes 0.
CAPACITY: dict[tuple[str, str], int] = {
    ("XZ", "CRANE"): 80,
    ("XZ", "ENGINE"): 0,
    ("XZ", "RAIL"): 0,
    ("XZ", "MARINE"): 0,
    ("WF", "CRANE"): 0,
    ("WF", "ENGINE"): 600,
    ("WF", "RAIL"): 0,
    ("WF", "MARINE"): 6,
    ("ZZ", "CRANE"): 12,
    ("ZZ", "ENGINE"): 90,
    ("ZZ", "RAIL"): 5,
    ("ZZ", "MARINE"): 0,
}
LINE_PLANT = {"CRANE": "XZ", "ENGINE": "WF", "RAIL": "ZZ", "MARINE": "WF"}
CAPACITY_MONTHS_BACK = 5
CAPACITY_MONTHS = 18

# industry → product line weights
INDUSTRY_LINES: dict[str, list[tuple[str, int]]] = {
    "construction": [("CRANE", 9), ("ENGINE", 1)],
    "rental": [("CRANE", 1)],
    "municipal": [("CRANE", 1)],
    "ports": [("MARINE", 5), ("CRANE", 5)],
    "mining": [("ENGINE", 6), ("CRANE", 4)],
    "energy": [("ENGINE", 7), ("CRANE", 3)],
    "rail": [("RAIL", 85), ("CRANE", 15)],
    "manufacturing": [("ENGINE", 8), ("CRANE", 2)],
}


@dataclass(frozen=True)
class Timing:
    schedule: tuple[int, int]  # days from order to APS scheduling
    start: tuple[int, int]  # days from scheduling to production start
    produce: tuple[int, int]  # production days
    buffer: tuple[int, int]  # days between production end and the promised delivery
    install: bool


TIMING = {
    "CRANE": Timing((2, 6), (3, 15), (18, 35), (8, 20), True),
    "ENGINE": Timing((1, 4), (2, 8), (8, 18), (6, 12), False),
    "RAIL": Timing((5, 12), (10, 30), (90, 150), (15, 30), True),
    "MARINE": Timing((5, 12), (10, 30), (60, 120), (15, 30), True),
}

CARRIERS = {
    "CRANE": ["自有车队（大件运输）", "中铁物流", "德邦物流"],
    "ENGINE": ["顺丰快运", "德邦物流", "安能物流"],
    "RAIL": ["铁路专用线发运"],
    "MARINE": ["中远海运物流", "船厂自提"],
    "parts": ["顺丰速运", "德邦快递", "京东物流"],
    "overseas": ["中远海运（COSCO）", "马士基（Maersk）"],
}
PAYMENT_METHODS = ["电汇", "电汇", "电汇", "银行承兑汇票", "商业承兑汇票"]
OVERSEAS_METHODS = ["信用证", "电汇"]
TERMS_DAYS = (30, 60, 60, 90)
CANCEL_REASONS = ["客户项目延期，取消订单", "客户资金未落实", "改签更大吨位机型", "项目中标失败"]
ORDERS_PER_SCALE = {"S": 1, "M": 2, "L": 3}

# forced states for the demo rep's customers
FORCE_IN_PRODUCTION = "in_production"
FORCE_SHIPPED_THIS_WEEK = "shipped_this_week"
FORCE_SCHEDULED = "scheduled"
REP_FORCED = (FORCE_IN_PRODUCTION, FORCE_SHIPPED_THIS_WEEK, FORCE_SCHEDULED)


# --- the plan -------------------------------------------------------------------------------


@dataclass
class LinePlan:
    product: str
    kind: str
    quantity: int
    unit_price: Decimal

    @property
    def amount(self) -> Decimal:
        return (self.unit_price * self.quantity).quantize(CENT)


@dataclass
class ShipmentPlan:
    number: str
    shipped_on: dt.date
    delivered_on: dt.date | None
    carrier: str
    tracking_no: str
    items: list[tuple[int, int]]  # (line index, quantity)
    serials: list[tuple[int, str]]  # (line index, serial number)
    amount: Decimal = Decimal("0")


@dataclass
class PaymentPlan:
    number: str
    received_on: dt.date
    amount: Decimal
    method: str


@dataclass
class InvoicePlan:
    number: str
    issued_on: dt.date
    due_on: dt.date
    amount: Decimal
    tax_amount: Decimal
    shipment: int | None  # index of the shipment it bills, None for services
    payments: list[PaymentPlan] = field(default_factory=list)


@dataclass
class WorkOrderPlan:
    number: str
    line: int
    status: str
    quantity: int
    quantity_done: int
    planned_start: dt.date
    planned_finish: dt.date
    actual_finish: dt.date | None


@dataclass
class OrderPlan:
    number: str
    contract: str | None
    product_line: str
    ordered_on: dt.date
    requested_date: dt.date
    promised_date: dt.date
    plant: str | None
    source: str
    lines: list[LinePlan]
    steps: list[tuple[str, dt.datetime, str, str]]  # (status, at, source, note)
    status: str = "confirmed"
    status_at: dt.datetime | None = None
    shipments: list[ShipmentPlan] = field(default_factory=list)
    invoices: list[InvoicePlan] = field(default_factory=list)
    work_orders: list[WorkOrderPlan] = field(default_factory=list)
    production_start: dt.date | None = None

    @property
    def amount(self) -> Decimal:
        return sum((ln.amount for ln in self.lines), Decimal("0"))

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"


@dataclass
class ContractPlan:
    number: str
    title: str
    signed_on: dt.date
    ends_on: dt.date
    orders: list[OrderPlan] = field(default_factory=list)

    @property
    def amount(self) -> Decimal:
        live = [o for o in self.orders if not o.cancelled]
        return sum((o.amount for o in (live or self.orders)), Decimal("0"))

    @property
    def status(self) -> str:
        if all(o.cancelled for o in self.orders):
            return "terminated"
        if all(o.status == "accepted" for o in self.orders if not o.cancelled):
            return "completed"
        return "active"


@dataclass
class CustomerHistory:
    index: int
    contracts: list[ContractPlan]
    orders: list[OrderPlan]


@dataclass(frozen=True)
class CustomerFacts:
    """What the plan needs to know about a customer (no database rows: the plan is pure)."""

    index: int  # position in the customers plan: makes every number unique and stable
    status: str
    industry: str
    is_key_account: bool
    overseas: bool
    force: str = ""


def _money(value: Decimal | float | int, step: int = 1) -> Decimal:
    """Round to ``step`` yuan (list prices are quoted in round numbers)."""
    d = Decimal(str(value))
    if step > 1:
        return (d / step).quantize(Decimal("1"), rounding=ROUND_HALF_UP) * step
    return d.quantize(CENT, rounding=ROUND_HALF_UP)


def _weighted(rng: Random, pairs: list[tuple[str, int]]) -> str:
    return rng.choices([p for p, _w in pairs], weights=[w for _p, w in pairs])[0]


class _Clock:
    """Turns planned days into aware datetimes that are never in the future."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.today = timezone.localdate(now)

    def at(self, rng: Random, day: dt.date, hours: tuple[int, int] = (8, 18)) -> dt.datetime:
        moment = timezone.make_aware(
            dt.datetime.combine(day, dt.time(rng.randint(hours[0], hours[1] - 1), rng.randrange(60)))
        )
        if day == self.today and moment > self.now:
            moment = self.now - dt.timedelta(minutes=1 + rng.randrange(30))
        return moment


def _machine_lines(rng: Random, machine: MachineSpec, prices: dict[str, Decimal]) -> list[LinePlan]:
    from steelyard.catalog.demo import OPTIONS, PARTS

    qty = rng.randint(*machine.qty)
    lines = [
        LinePlan(
            machine.code, "machine", qty, _money(prices[machine.code] * Decimal(rng.uniform(0.86, 1.0)), 1000)
        )
    ]
    options = [option_code(machine.code, o[0]) for o in OPTIONS.get(machine.family, [])]
    for code in rng.sample(options, k=min(len(options), rng.choice((0, 1, 1, 2, 2, 3)))):
        if code in prices:
            lines.append(
                LinePlan(code, "option", qty, _money(prices[code] * Decimal(rng.uniform(0.9, 1.0)), 100))
            )
    if rng.random() < 0.3:
        parts = [
            part_code(p[1])
            for p in PARTS
            if p[0] == machine.line and (machine.family in p[6] or machine.code in p[6])
        ]
        for code in rng.sample(parts, k=min(len(parts), rng.choice((1, 1, 2)))):
            if code in prices:
                lines.append(LinePlan(code, "spare_part", rng.randint(2, 10), _money(prices[code], 10)))
    if rng.random() < 0.45:
        services = [service_code(machine.line, s[0]) for s in SERVICES[machine.line]]
        for code in rng.sample(services, k=rng.choice((1, 1, 2))):
            if code in prices:
                per_unit = code.endswith("EXTW") and machine.line == "ENGINE"
                lines.append(LinePlan(code, "service", qty if per_unit else 1, prices[code]))
    return lines


def _parts_lines(rng: Random, machine: MachineSpec, prices: dict[str, Decimal]) -> list[LinePlan]:
    from steelyard.catalog.demo import PARTS

    parts = [
        part_code(p[1])
        for p in PARTS
        if p[0] == machine.line and (machine.family in p[6] or machine.code in p[6])
    ]
    parts = [c for c in parts if c in prices] or [c for c in prices if c.startswith("HY6")][:3]
    chosen = rng.sample(parts, k=min(len(parts), rng.randint(1, 3)))
    return [LinePlan(code, "spare_part", rng.randint(1, 12), _money(prices[code], 10)) for code in chosen]


def _order_dates(rng: Random, facts: CustomerFacts, n: int, today: dt.date) -> list[dt.date]:
    if facts.status == "dormant":
        lo, hi = 450, 729
    elif facts.status == "lost":
        lo, hi = 500, 729
    else:
        lo, hi = 2, 729
    # The business grew: recent months have more orders than two years ago.
    days = sorted(today - dt.timedelta(days=lo + int((hi - lo) * rng.random() ** 1.3)) for _ in range(n))
    if facts.status == "active" and (today - days[-1]).days > 240:
        days[-1] = today - dt.timedelta(days=rng.randint(5, 240))
    return days


def plan_customer_history(
    *,
    seed: int,
    facts: CustomerFacts,
    now: dt.datetime,
    prices: dict[str, Decimal],
    kinds: dict[str, str],
    orders_factor: int = 1,
) -> CustomerHistory:
    """The order-to-cash history of one customer (pure: same inputs, same history)."""
    rng = Random(f"{seed}:orders:{facts.index}")
    clock = _Clock(now)
    today = clock.today
    ci = facts.index
    if facts.is_key_account:
        n = rng.randint(4, 8)
    elif facts.status == "active":
        n = rng.randint(2, 5)
    else:
        n = rng.randint(1, 2)
    n *= orders_factor
    dates = _order_dates(rng, facts, n, today)
    payer = (
        "slow"
        if facts.is_key_account and rng.random() < 0.5
        else _weighted(rng, [("good", 65), ("slow", 25), ("bad", 10)])
    )
    terms = 60 if facts.overseas else rng.choice(TERMS_DAYS)
    lines_of = INDUSTRY_LINES.get(facts.industry, [("CRANE", 1)])
    if facts.overseas:
        lines_of = [("CRANE", 6), ("MARINE", 4)]
    home_line = _weighted(rng, lines_of)
    orders: list[OrderPlan] = []
    bought: list[MachineSpec] = []
    forced = [facts.force] if facts.force else []
    plans: list[tuple[dt.date, str]] = [(d, "") for d in dates] + [(today, f) for f in forced]
    for k, (ordered_on, force) in enumerate(plans, start=1):
        parts_only = not force and bool(bought) and rng.random() < 0.15
        line = home_line if rng.random() < 0.8 else _weighted(rng, lines_of)
        if force:
            line = "CRANE"
        candidates = [m for m in MACHINES if m.line == line and m.code in prices]
        if not candidates:
            continue
        # Cheaper models sell more often.
        machine = rng.choices(candidates, weights=[1 / math.sqrt(m.price) for m in candidates])[0]
        if force:
            machine = next((m for m in candidates if m.family == "tower"), machine)
        if parts_only:
            machine = rng.choice(bought)
            order = _plan_parts_order(rng, clock, facts, k, ordered_on, machine, prices, payer, terms)
        else:
            order = _plan_machine_order(
                rng, clock, facts, k, ordered_on, machine, prices, kinds, payer, terms, force
            )
            bought.append(machine)
        orders.append(order)
    contracts = _plan_contracts(rng, facts, orders)
    return CustomerHistory(index=ci, contracts=contracts, orders=orders)


def _plan_contracts(rng: Random, facts: CustomerFacts, orders: list[OrderPlan]) -> list[ContractPlan]:
    contracts: dict[str, ContractPlan] = {}
    for k, order in enumerate(orders, start=1):
        if order.lines and all(ln.kind == "spare_part" for ln in order.lines):
            continue  # aftermarket parts orders go without a contract
        if facts.is_key_account:
            year = order.ordered_on.year
            number = f"HY-HT{year}-{facts.index:04d}K"
            if number not in contracts:
                signed = min(o.ordered_on for o in orders if o.ordered_on.year == year) - dt.timedelta(
                    days=rng.randint(3, 20)
                )
                contracts[number] = ContractPlan(
                    number, f"{year}年度设备采购框架协议", signed, dt.date(year, 12, 31)
                )
        else:
            number = f"HY-HT{order.ordered_on.year}-{facts.index:04d}{k:02d}"
            signed = order.ordered_on - dt.timedelta(days=rng.randint(1, 10))
            first = order.lines[0].product
            contracts[number] = ContractPlan(
                number, f"{first} 设备买卖合同", signed, order.promised_date + dt.timedelta(days=90)
            )
        contracts[number].orders.append(order)
        order.contract = number
    return list(contracts.values())


def _finish(order: OrderPlan, now: dt.datetime) -> None:
    from steelyard.orders.services.status import current_status

    reached = [(s, at) for s, at, _src, _note in order.steps if at <= now]
    order.steps = [st for st in order.steps if st[1] <= now]
    status, at = current_status(reached) or ("confirmed", order.steps[0][1])
    order.status, order.status_at = status, at


def _plan_machine_order(
    rng: Random,
    clock: _Clock,
    facts: CustomerFacts,
    k: int,
    ordered_on: dt.date,
    machine: MachineSpec,
    prices: dict[str, Decimal],
    kinds: dict[str, str],
    payer: str,
    terms: int,
    force: str,
) -> OrderPlan:
    today = clock.today
    ci = facts.index
    timing = TIMING[machine.line]
    lines = _machine_lines(rng, machine, prices)
    if force == FORCE_SHIPPED_THIS_WEEK:
        lines[0].quantity = 1  # one machine, one shipment
        for ln in lines[1:]:
            if ln.kind == "option":
                ln.quantity = 1
    # Offsets (days after the order) of every step of the happy path.
    sched = rng.randint(*timing.schedule)
    start = sched + rng.randint(*timing.start)
    produce = rng.randint(*timing.produce)
    buffer = rng.randint(*timing.buffer)
    transit = rng.randint(25, 40) if facts.overseas else rng.randint(2, 7)
    buffer = max(buffer, transit + 3)
    delay = rng.randint(3, 25) if rng.random() < 0.25 else 0
    produced = start + produce + delay
    shipped = produced + rng.randint(1, 4)
    machines_qty = lines[0].quantity
    partial = machines_qty >= 2 and rng.random() < 0.35 and not force
    second = shipped + rng.randint(10, 35) if partial else None
    delivered = (second or shipped) + transit
    installed = delivered + rng.randint(3, 12) if timing.install else None
    accepted = (installed or delivered) + rng.randint(5, 25)
    # The rep's orders are placed so that today falls in the wanted step.
    if force == FORCE_IN_PRODUCTION:
        ordered_on = today - dt.timedelta(days=start + min(produce // 2, 6))
    elif force == FORCE_SHIPPED_THIS_WEEK:
        ship_day = today - dt.timedelta(days=min(today.weekday(), 1))
        ordered_on = ship_day - dt.timedelta(days=shipped)
        transit = max(transit, 3)
        delivered = shipped + transit
        installed = delivered + 5
        accepted = installed + 10
    elif force == FORCE_SCHEDULED:
        ordered_on = today - dt.timedelta(days=sched)

    def day(offset: int) -> dt.date:
        return ordered_on + dt.timedelta(days=offset)

    promised = day(start + produce + buffer)
    requested = max(day(7), promised - dt.timedelta(days=rng.randint(0, 15)))
    source = "erp" if rng.random() < 0.75 else "crm"
    steps: list[tuple[str, dt.datetime, str, str]] = [
        ("confirmed", clock.at(rng, ordered_on), source, ""),
        ("scheduled", clock.at(rng, day(sched), (1, 6)), "aps", "APS 排产"),
        ("in_production", clock.at(rng, day(start), (7, 10)), "mes", ""),
        ("produced", clock.at(rng, day(produced), (14, 22)), "mes", "下线检验合格"),
        ("shipped", clock.at(rng, day(shipped)), "erp", ""),
        ("delivered", clock.at(rng, day(delivered)), "erp", ""),
    ]
    if installed is not None:
        steps.append(("installed", clock.at(rng, day(installed)), "crm", "安装调试完成"))
    steps.append(("accepted", clock.at(rng, day(accepted)), "crm", "客户签署验收单"))
    cancel = not force and (today - ordered_on).days > 20 and rng.random() < 0.06
    if cancel:
        when = min(day(rng.randint(2, 20)), day(start - 1))
        steps = [s for s in steps if s[1].date() < when]
        steps.append(("cancelled", clock.at(rng, when), "crm", rng.choice(CANCEL_REASONS)))
    year = ordered_on.year
    order = OrderPlan(
        number=f"SO{year}{ci:04d}{k:02d}",
        contract=None,
        product_line=machine.line,
        ordered_on=ordered_on,
        requested_date=requested,
        promised_date=promised,
        plant=LINE_PLANT[machine.line],
        source=source,
        lines=lines,
        steps=steps,
        production_start=day(start),
    )
    _finish(order, clock.now)
    if order.cancelled:
        return order
    # MES work orders, one per machine line, once the order is scheduled.
    reached = {s for s, *_r in order.steps}
    if "scheduled" in reached:
        if "produced" in reached:
            status, done, finish = "completed", machines_qty, day(produced)
        elif "in_production" in reached:
            elapsed = (today - day(start)).days
            done = min(machines_qty - 1, machines_qty * max(0, elapsed) // max(1, produce + delay))
            status, finish = "in_production", None
        else:
            status, done, finish = "released" if (day(start) - today).days < 7 else "planned", 0, None
        order.work_orders.append(
            WorkOrderPlan(
                number=f"WO{ci:04d}{k:02d}01",
                line=0,
                status=status,
                quantity=machines_qty,
                quantity_done=done,
                planned_start=day(start),
                planned_finish=day(start + produce),
                actual_finish=finish,
            )
        )
    # Shipments: machines (and their options) may leave in two lots; parts go with the first.
    if "shipped" in reached:
        physical = [i for i, ln in enumerate(lines) if kinds.get(ln.product) != "service"]
        lots: list[tuple[dt.date, dict[int, int]]] = []
        if partial:
            first_q = math.ceil(machines_qty / 2)
            first = {
                i: (first_q if lines[i].kind in ("machine", "option") else lines[i].quantity)
                for i in physical
            }
            rest = {i: lines[i].quantity - q for i, q in first.items() if lines[i].quantity - q > 0}
            lots.append((day(shipped), first))
            if second is not None and day(second) <= today:
                lots.append((day(second), rest))
        else:
            lots.append((day(shipped), {i: lines[i].quantity for i in physical}))
        carriers = CARRIERS["overseas"] if facts.overseas else CARRIERS[machine.line]
        unit_no = 0
        for s, (shipped_on, items) in enumerate(lots, start=1):
            arrival = shipped_on + dt.timedelta(days=transit)
            serials = []
            for i, q in items.items():
                if lines[i].kind != "machine":
                    continue
                for _u in range(q):
                    unit_no += 1
                    serials.append((i, f"{lines[i].product}-{shipped_on:%y%m}{ci:04d}{k:02d}{unit_no:02d}"))
            shipment = ShipmentPlan(
                number=f"DN{shipped_on.year}{ci:04d}{k:02d}{s}",
                shipped_on=shipped_on,
                delivered_on=arrival if arrival <= today else None,
                carrier=rng.choice(carriers),
                tracking_no=f"{'COSU' if facts.overseas else 'YD'}{rng.randrange(10**9, 10**10)}",
                items=sorted(items.items()),
                serials=serials,
            )
            shipment.amount = sum(
                ((lines[i].unit_price * q).quantize(CENT) for i, q in shipment.items), Decimal("0")
            )
            order.shipments.append(shipment)
    # Invoices: one per shipment, one for the services once they are rendered.
    for s, shipment in enumerate(order.shipments):
        issued = min(today, shipment.shipped_on + dt.timedelta(days=rng.randint(0, 3)))
        order.invoices.append(
            _invoice(rng, facts, k, len(order.invoices) + 1, issued, terms, shipment.amount, s)
        )
    service_total = sum((ln.amount for ln in lines if kinds.get(ln.product) == "service"), Decimal("0"))
    rendered = [at.date() for s, at, *_r in order.steps if s in ("installed", "accepted")]
    if service_total and rendered:
        issued = min(today, rendered[0] + dt.timedelta(days=rng.randint(0, 5)))
        order.invoices.append(
            _invoice(rng, facts, k, len(order.invoices) + 1, issued, terms, service_total, None)
        )
    for invoice in order.invoices:
        _pay(rng, facts, invoice, payer, terms, today, force)
    return order


def _plan_parts_order(
    rng: Random,
    clock: _Clock,
    facts: CustomerFacts,
    k: int,
    ordered_on: dt.date,
    machine: MachineSpec,
    prices: dict[str, Decimal],
    payer: str,
    terms: int,
) -> OrderPlan:
    """An aftermarket order for spare parts of a machine the customer bought: shipped from stock."""
    today = clock.today
    lines = _parts_lines(rng, machine, prices)
    ship = rng.randint(1, 5)
    transit = rng.randint(20, 35) if facts.overseas else rng.randint(1, 4)
    steps = [
        ("confirmed", clock.at(rng, ordered_on), "crm", "备件订单"),
        ("shipped", clock.at(rng, ordered_on + dt.timedelta(days=ship)), "erp", "备件库发货"),
        ("delivered", clock.at(rng, ordered_on + dt.timedelta(days=ship + transit)), "erp", ""),
        (
            "accepted",
            clock.at(rng, ordered_on + dt.timedelta(days=ship + transit + rng.randint(1, 5))),
            "crm",
            "收货确认",
        ),
    ]
    order = OrderPlan(
        number=f"SO{ordered_on.year}{facts.index:04d}{k:02d}",
        contract=None,
        product_line=machine.line,
        ordered_on=ordered_on,
        requested_date=ordered_on + dt.timedelta(days=ship + transit),
        promised_date=ordered_on + dt.timedelta(days=ship + transit),
        plant=None,
        source="crm",
        lines=lines,
        steps=steps,
    )
    _finish(order, clock.now)
    if order.status in ("shipped", "delivered", "accepted"):
        shipped_on = ordered_on + dt.timedelta(days=ship)
        arrival = shipped_on + dt.timedelta(days=transit)
        shipment = ShipmentPlan(
            number=f"DN{shipped_on.year}{facts.index:04d}{k:02d}1",
            shipped_on=shipped_on,
            delivered_on=arrival if arrival <= today else None,
            carrier=rng.choice(CARRIERS["overseas"] if facts.overseas else CARRIERS["parts"]),
            tracking_no=f"SF{rng.randrange(10**11, 10**12)}",
            items=[(i, ln.quantity) for i, ln in enumerate(lines)],
            serials=[],
            amount=order.amount,
        )
        order.shipments.append(shipment)
        issued = min(today, shipped_on + dt.timedelta(days=rng.randint(0, 2)))
        order.invoices.append(_invoice(rng, facts, k, 1, issued, min(terms, 30), shipment.amount, 0))
        _pay(rng, facts, order.invoices[0], payer, min(terms, 30), today, "")
    return order


def _invoice(
    rng: Random,
    facts: CustomerFacts,
    k: int,
    i: int,
    issued: dt.date,
    terms: int,
    amount: Decimal,
    shipment: int | None,
) -> InvoicePlan:
    tax = (amount * VAT / (1 + VAT)).quantize(CENT, rounding=ROUND_HALF_UP)
    return InvoicePlan(
        number=f"FP{issued.year}{facts.index:04d}{k:02d}{i}",
        issued_on=issued,
        due_on=issued + dt.timedelta(days=terms),
        amount=amount,
        tax_amount=tax,
        shipment=shipment,
    )


def _pay(
    rng: Random,
    facts: CustomerFacts,
    invoice: InvoicePlan,
    payer: str,
    terms: int,
    today: dt.date,
    force: str,
) -> None:
    """Payments of one invoice by the customer's habit: on time, late, partly, or not at all."""
    methods = OVERSEAS_METHODS if facts.overseas else PAYMENT_METHODS
    issued, due = invoice.issued_on, invoice.due_on
    roll = rng.random()
    share = Decimal("1")
    if force:
        return  # the rep's fresh invoice is not due yet
    if payer == "good":
        when = issued + dt.timedelta(days=rng.randint(5, max(6, terms - 2)))
    elif payer == "slow":
        when = due + dt.timedelta(days=rng.randint(3, 60))
    elif roll < 0.45:
        when = due + dt.timedelta(days=rng.randint(40, 200))
    elif roll < 0.75:
        when = due + dt.timedelta(days=rng.randint(10, 90))
        share = Decimal(str(round(rng.uniform(0.5, 0.7), 2)))
    else:
        return  # never paid: overdue once the due date passes
    if when > today:
        return
    total = (invoice.amount * share).quantize(CENT)
    n = 2 if total > Decimal("3000000") and rng.random() < 0.4 and share == 1 else 1
    parts = [(total / 2).quantize(CENT), total - (total / 2).quantize(CENT)] if n == 2 else [total]
    for p, amount in enumerate(parts, start=1):
        received = (
            when
            if p == n
            else max(issued + dt.timedelta(days=1), when - dt.timedelta(days=rng.randint(10, 30)))
        )
        invoice.payments.append(
            PaymentPlan(
                number=f"RC{received.year}{invoice.number[6:]}{p}",
                received_on=received,
                amount=amount,
                method=rng.choice(methods),
            )
        )


# --- applying -------------------------------------------------------------------------------


def _plants(ctx: DemoContext) -> dict[str, Any]:
    from steelyard.orders.models import Plant

    plants = {p.code: p for p in Plant.objects.filter(code__in=[c for c, _n in PLANTS])}
    for code, name in PLANTS:
        if code not in plants:
            plants[code] = Plant.objects.create(code=code, name=name)
            ctx.count("orders.plant")
    return plants


def _capacity(
    ctx: DemoContext,
    plants: dict[str, Any],
    lines: dict[str, Any],
    booked: dict[tuple[str, str, dt.date], int],
) -> None:
    from steelyard.orders.models import Capacity

    rng = Random(f"{ctx.seed}:orders.capacity")
    first = timezone.localdate().replace(day=1) - relativedelta(months=CAPACITY_MONTHS_BACK)
    months = [first + relativedelta(months=m) for m in range(CAPACITY_MONTHS)]
    existing = set(
        Capacity.objects.filter(plant__in=plants.values(), month__in=months).values_list(
            "plant__code", "product_line__code", "month"
        )
    )
    rows = []
    this_month = timezone.localdate().replace(day=1)
    for (plant, line), capacity in sorted(CAPACITY.items()):
        if line not in lines:
            continue
        for month in months:
            if (plant, line, month) in existing:
                continue
            ahead = (month.year - this_month.year) * 12 + month.month - this_month.month
            fill = rng.uniform(0.65, 0.95) if ahead <= 0 else max(0.05, rng.uniform(0.75, 0.9) - 0.08 * ahead)
            cap = capacity if not capacity else max(1, round(capacity * rng.uniform(0.9, 1.1)))
            planned = (
                0
                if not cap
                else min(round(cap * 1.15), booked.get((plant, line, month), 0) + round(cap * fill))
            )
            rows.append(
                Capacity(
                    product_line=lines[line],
                    plant=plants[plant],
                    month=month,
                    capacity_units=cap,
                    planned_units=planned,
                    source="aps",
                )
            )
    Capacity.objects.bulk_create(rows, batch_size=500)
    ctx.count("orders.capacity", len(rows))


def _facts_for_customers(ctx: DemoContext) -> list[tuple[Any, CustomerFacts]]:
    from steelyard.customers.demo import plan_demo_customers
    from steelyard.customers.models import Customer

    specs = plan_demo_customers(ctx.seed)
    live = Customer.objects.filter(merged_into__isnull=True).select_related("owner")
    by_code = {c.credit_code: c for c in live.exclude(credit_code="")}
    by_name = {c.name_key: c for c in live.filter(credit_code="")}
    rep = ctx.logins.get("rep")
    found: list[tuple[Any, CustomerFacts]] = []
    for i, spec in enumerate(specs):
        customer = by_code.get(spec.credit_code) if spec.credit_code else by_name.get(spec.key)
        if customer is None:
            continue
        found.append(
            (
                customer,
                CustomerFacts(
                    index=i,
                    status=customer.status,
                    industry=customer.industry,
                    is_key_account=customer.is_key_account,
                    overseas=not spec.credit_code,
                ),
            )
        )
    # The demo rep's first active customers get an order in production, one shipped this week, one scheduled.
    if rep is not None:
        mine = [j for j, (c, f) in enumerate(found) if c.owner_id == rep.pk and f.status == "active"]
        mine += [j for j, (c, f) in enumerate(found) if c.owner_id == rep.pk and f.status != "active"]
        for force, j in zip(REP_FORCED, mine, strict=False):
            c, f = found[j]
            found[j] = (c, CustomerFacts(f.index, "active", f.industry, f.is_key_account, f.overseas, force))
    return found


@seeder("orders", after=("org", "catalog", "customers"))
def seed_orders(ctx: DemoContext) -> None:
    """Plants, 18 months of capacity, and two years of order-to-cash for the demo customers."""
    from steelyard.catalog.models import Product, ProductLine
    from steelyard.orders.models import SalesOrder

    lines = {pl.code: pl for pl in ProductLine.objects.all()}
    products = {p.code: p for p in Product.objects.filter(is_active=True)}
    if not products or "rep" not in ctx.logins:
        return
    now = timezone.now()
    prices = {code: p.list_price for code, p in products.items()}
    kinds = {code: p.kind for code, p in products.items()}
    factor = ORDERS_PER_SCALE.get(ctx.scale, 1)
    with transaction.atomic():
        plants = _plants(ctx)
        facts = _facts_for_customers(ctx)
        has_orders = set(
            SalesOrder.objects.filter(customer__in=[c for c, _f in facts]).values_list(
                "customer_id", flat=True
            )
        )
        histories: list[tuple[Any, CustomerHistory]] = []
        for customer, f in facts:
            if customer.pk in has_orders or (f.status not in ("active", "dormant", "lost") and not f.force):
                continue
            history = plan_customer_history(
                seed=ctx.seed, facts=f, now=now, prices=prices, kinds=kinds, orders_factor=factor
            )
            if history.orders:
                histories.append((customer, history))
        booked: dict[tuple[str, str, dt.date], int] = defaultdict(int)
        for _c, h in histories:
            for o in h.orders:
                if o.plant and o.production_start and not o.cancelled:
                    booked[(o.plant, o.product_line, o.production_start.replace(day=1))] += o.lines[
                        0
                    ].quantity
        _capacity(ctx, plants, lines, booked)
        if histories:
            _apply(ctx, histories, products, plants, now)


def _apply(
    ctx: DemoContext,
    histories: list[tuple[Any, CustomerHistory]],
    products: dict[str, Any],
    plants: dict[str, Any],
    now: dt.datetime,
) -> None:
    from steelyard.customers.models import Customer
    from steelyard.customers.services.pool import customer_record_event
    from steelyard.orders.models import (
        Contract,
        Invoice,
        OrderLine,
        OrderStatusEvent,
        Payment,
        SalesOrder,
        Shipment,
        ShipmentLine,
        ShippedUnit,
        WorkOrder,
    )

    batch = 1000
    contracts: list[Any] = []
    contract_by_number: dict[str, Any] = {}
    for customer, h in histories:
        for cp in h.contracts:
            contract = Contract(
                number=cp.number,
                customer=customer,
                title=cp.title,
                status=cp.status,
                signed_on=cp.signed_on,
                starts_on=cp.signed_on,
                ends_on=cp.ends_on,
                amount=cp.amount,
                signed_by=customer.owner,
                source="erp",
            )
            contract._history_date = timezone.make_aware(dt.datetime.combine(cp.signed_on, dt.time(10)))
            contracts.append(contract)
            contract_by_number[cp.number] = contract
    Contract.objects.bulk_create(contracts, batch_size=batch)
    Contract.history.bulk_history_create(contracts, batch_size=batch, default_change_reason="demo")
    ctx.count("orders.contract", len(contracts))

    orders: list[tuple[Any, OrderPlan]] = []
    for customer, h in histories:
        for op in h.orders:
            order = SalesOrder(
                number=op.number,
                customer=customer,
                contract=contract_by_number.get(op.contract) if op.contract else None,
                ordered_on=op.ordered_on,
                requested_date=op.requested_date,
                promised_date=op.promised_date,
                plant=plants.get(op.plant) if op.plant else None,
                amount=op.amount,
                status=op.status,
                status_at=op.status_at,
                source=op.source,
                notes=next((note for s, _a, _src, note in op.steps if s == "cancelled"), ""),
            )
            order._history_date = op.status_at
            orders.append((order, op))
    SalesOrder.objects.bulk_create([o for o, _p in orders], batch_size=batch)
    SalesOrder.history.bulk_history_create(
        [o for o, _p in orders], batch_size=batch, default_change_reason="demo"
    )
    ctx.count("orders.order", len(orders))

    order_lines: list[Any] = []
    events: list[Any] = []
    owners = {c.pk: c.owner for c, _h in histories}
    for order, op in orders:
        for no, lp in enumerate(op.lines, start=1):
            order_lines.append(
                OrderLine(
                    order=order,
                    line_no=no,
                    product=products[lp.product],
                    description=products[lp.product].name[:200],
                    quantity=Decimal(lp.quantity),
                    unit_price=lp.unit_price,
                    amount=lp.amount,
                    requested_date=op.requested_date,
                    promised_date=op.promised_date,
                )
            )
        for status, at, source, note in op.steps:
            events.append(
                OrderStatusEvent(
                    order=order,
                    status=status,
                    at=at,
                    source=source,
                    note=note,
                    actor=owners.get(order.customer_id) if source == "crm" else None,
                )
            )
    OrderLine.objects.bulk_create(order_lines, batch_size=batch)
    OrderStatusEvent.objects.bulk_create(events, batch_size=batch)
    ctx.count("orders.order_line", len(order_lines))
    ctx.count("orders.status_event", len(events))
    lines_of: dict[int, list[Any]] = defaultdict(list)
    for ol in order_lines:
        lines_of[ol.order_id].append(ol)

    work_orders, shipments, invoices = [], [], []
    shipment_rows: list[tuple[Any, ShipmentPlan, list[Any]]] = []
    invoice_rows: list[tuple[Any, InvoicePlan]] = []
    for order, op in orders:
        ols = lines_of[order.pk]
        for wp in op.work_orders:
            work_orders.append(
                WorkOrder(
                    number=wp.number,
                    order_line=ols[wp.line],
                    plant=order.plant,
                    status=wp.status,
                    quantity=Decimal(wp.quantity),
                    quantity_done=Decimal(wp.quantity_done),
                    planned_start=wp.planned_start,
                    planned_finish=wp.planned_finish,
                    actual_finish=wp.actual_finish,
                    source="mes",
                )
            )
        order_shipments = []
        for sp in op.shipments:
            shipment = Shipment(
                number=sp.number,
                order=order,
                customer_id=order.customer_id,
                shipped_on=sp.shipped_on,
                delivered_on=sp.delivered_on,
                carrier=sp.carrier,
                tracking_no=sp.tracking_no,
                amount=sp.amount,
                source="erp",
            )
            shipments.append(shipment)
            order_shipments.append(shipment)
            shipment_rows.append((shipment, sp, ols))
        for ip in op.invoices:
            invoice = Invoice(
                number=ip.number,
                customer_id=order.customer_id,
                order=order,
                contract=order.contract,
                issued_on=ip.issued_on,
                due_on=ip.due_on,
                amount=ip.amount,
                tax_amount=ip.tax_amount,
                source="erp",
            )
            invoices.append(invoice)
            invoice_rows.append((invoice, ip))
    WorkOrder.objects.bulk_create(work_orders, batch_size=batch)
    Shipment.objects.bulk_create(shipments, batch_size=batch)
    Invoice.objects.bulk_create(invoices, batch_size=batch)
    ctx.count("orders.work_order", len(work_orders))
    ctx.count("orders.shipment", len(shipments))
    ctx.count("orders.invoice", len(invoices))

    shipment_lines: list[Any] = []
    units_of: list[tuple[Any, list[str]]] = []
    for shipment, sp, ols in shipment_rows:
        serials: dict[int, list[str]] = defaultdict(list)
        for i, serial in sp.serials:
            serials[i].append(serial)
        for i, qty in sp.items:
            sl = ShipmentLine(shipment=shipment, order_line=ols[i], quantity=Decimal(qty))
            shipment_lines.append(sl)
            if serials.get(i):
                units_of.append((sl, serials[i]))
    ShipmentLine.objects.bulk_create(shipment_lines, batch_size=batch)
    units = [
        ShippedUnit(shipment_line=sl, product_id=sl.order_line.product_id, serial_number=serial)
        for sl, serials in units_of
        for serial in serials
    ]
    ShippedUnit.objects.bulk_create(units, batch_size=batch)
    ctx.count("orders.shipment_line", len(shipment_lines))
    ctx.count("orders.shipped_unit", len(units))

    payments = [
        Payment(
            number=pp.number,
            customer_id=invoice.customer_id,
            invoice=invoice,
            received_on=pp.received_on,
            amount=pp.amount,
            method=pp.method,
            source="erp",
        )
        for invoice, ip in invoice_rows
        for pp in ip.payments
    ]
    Payment.objects.bulk_create(payments, batch_size=batch)
    ctx.count("orders.payment", len(payments))

    # The customers: first order date, and the latest confirmed order as the pool clock's deal.
    for customer, h in histories:
        live = [o for o in h.orders if not o.cancelled]
        if not live:
            continue
        first = min(o.ordered_on for o in live)
        if customer.first_order_date is None or first < customer.first_order_date:
            Customer.objects.filter(pk=customer.pk).update(first_order_date=first)
            customer.first_order_date = first
        confirmed = max(at for o in live for s, at, *_r in o.steps if s == "confirmed")
        customer_record_event(customer=customer, event="deal", at=confirmed)
