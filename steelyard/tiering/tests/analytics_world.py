"""A hand-built example for the tier analytics tests, with every figure worked out by hand.

Period: 12 months to 2026-06-30 → 2025-07-01 … 2026-06-30 (365 days); previous 2024-07-01 … 2025-06-30.

alice's customers (all in team_a):
    A1 strategic  this 1.6M (on 2025-07-01) + 3.0M = 4.6M, previous 2.0M (on 2025-06-30); freq 30 (tier)
    A2 key        this 3.0M (+ a cancelled 9,999,999), previous 1.0M (on 2024-07-01);   freq 73 (tier)
    A3 key        previous 0.5M only (lost);                                              freq 73 (tier)
    A4 regular    this 1.4M, none before (new);                                           own freq 73
    A5 regular    nothing;                                                                freq 60 (tier)
    A6 no tier    this 1.0M (+ orders just outside both periods);                         no visit plan
bob's own B1 key (this 1.0M), charlie's C1 strategic (this 50M, previous 50M).

Visits done in the period: A1 10 (+ one the day before, one planned, one call), A2 5, A4 6, A6 2,
C1 3; the two boundary visits (2025-07-01 00:00 and 2026-06-30 23:59 local) count, 2026-07-01 00:00 not.

Runs: r1 (2026-03-31), r2 (2026-06-30), a running r3 (ignored). r2's assessments: A1 key→strategic,
A2 key→key, A3 strategic→key, A4 ""→regular, C1 regular→strategic. r2's stored matrix says
regular→strategic 2 (on purpose unlike the assessments, to tell the two sources apart).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.utils import timezone

from steelyard.customers.models import Activity, ActivityKind, ActivityStatus
from steelyard.customers.testing import make_customer
from steelyard.orders.models import OrderStatus
from steelyard.orders.testing import make_order, make_product, make_product_line
from steelyard.tiering.models import Assessment, AssessmentRun, RunStatus, Tier, TierModel

AS_OF = dt.date(2026, 6, 30)
QUERY = {"as_of": "2026-06-30", "months": "12"}
FREQ = {"strategic": 30, "key": 73, "regular": 60}


def fake_visit_frequency(customer: Any) -> int | None:
    """Stands in for ``visit_frequency_for``: the customer's own, else a fixed one per tier."""
    return customer.visit_every_days or FREQ.get(customer.tier)


def local(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=timezone.get_current_timezone())


def make_model(code: str = "test-global", product_line: Any = None) -> TierModel:
    if product_line is None:
        TierModel.objects.filter(product_line__isnull=True, is_active=True).update(is_active=False)
    model = TierModel.objects.create(code=code, name=f"模型{code}", product_line=product_line)
    for code_, name, name_en, rank in (
        ("strategic", "战略", "Strategic", 1),
        ("key", "重点", "Key", 2),
        ("regular", "一般", "Regular", 3),
    ):
        Tier.objects.create(model=model, code=code_, name=name, name_en=name_en, rank=rank)
    return model


def _order(
    customer: Any, product: Any, amount: str, on: dt.date, status: str = OrderStatus.CONFIRMED
) -> None:
    make_order(customer, lines=[(product, 1, amount)], ordered_on=on, status=status)


def _visits(customer: Any, owner: Any, n: int, *, start: dt.datetime, **kw: Any) -> None:
    for i in range(n):
        Activity.objects.create(
            customer=customer,
            owner=owner,
            org_unit=owner.org_unit,
            subject=f"拜访{i}",
            kind=kw.get("kind", ActivityKind.VISIT),
            status=kw.get("status", ActivityStatus.DONE),
            occurred_at=start + dt.timedelta(days=i),
        )


def build(personas: Any) -> dict[str, Any]:
    alice, bob, charlie = personas.alice, personas.bob, personas.charlie
    model = make_model()
    product = make_product(line=make_product_line("CRANE", name="起重机"))
    c = {
        "A1": make_customer(alice, name="甲一战略客户有限公司", tier="strategic"),
        "A2": make_customer(alice, name="甲二重点客户有限公司", tier="key"),
        "A3": make_customer(alice, name="甲三重点客户有限公司", tier="key"),
        "A4": make_customer(alice, name="甲四一般客户有限公司", tier="regular", visit_every_days=73),
        "A5": make_customer(alice, name="甲五一般客户有限公司", tier="regular"),
        "A6": make_customer(alice, name="甲六无级客户有限公司", tier=""),
        "B1": make_customer(bob, name="乙一重点客户有限公司", tier="key"),
        "C1": make_customer(charlie, name="丙一战略客户有限公司", tier="strategic"),
    }
    _order(c["A1"], product, "1600000", dt.date(2025, 7, 1))
    _order(c["A1"], product, "3000000", dt.date(2026, 1, 10))
    _order(c["A1"], product, "2000000", dt.date(2025, 6, 30))
    _order(c["A2"], product, "3000000", dt.date(2026, 6, 30))
    _order(c["A2"], product, "9999999", dt.date(2026, 2, 1), status=OrderStatus.CANCELLED)
    _order(c["A2"], product, "1000000", dt.date(2024, 7, 1))
    _order(c["A3"], product, "500000", dt.date(2025, 3, 1))
    _order(c["A4"], product, "1400000", dt.date(2025, 12, 1))
    _order(c["A6"], product, "1000000", dt.date(2026, 5, 5))
    _order(c["A6"], product, "7000000", dt.date(2026, 7, 1))
    _order(c["A6"], product, "8000000", dt.date(2024, 6, 30))
    _order(c["B1"], product, "1000000", dt.date(2026, 4, 1))
    _order(c["C1"], product, "50000000", dt.date(2026, 4, 1))
    _order(c["C1"], product, "50000000", dt.date(2025, 4, 1))

    _visits(c["A1"], alice, 9, start=local(2025, 9, 1))
    _visits(c["A1"], bob, 1, start=local(2025, 7, 1, 0, 0))  # first minute of the period, by the manager
    _visits(c["A1"], alice, 1, start=local(2025, 6, 30, 23, 59))  # the day before
    _visits(c["A1"], alice, 1, start=local(2026, 3, 1), status=ActivityStatus.PLANNED)
    _visits(c["A1"], alice, 1, start=local(2026, 3, 2), kind=ActivityKind.CALL)
    _visits(c["A2"], alice, 4, start=local(2026, 1, 1))
    _visits(c["A2"], alice, 1, start=local(2026, 6, 30, 23, 59))  # last minute of the period
    _visits(c["A2"], alice, 1, start=local(2026, 7, 1, 0, 0))  # the day after
    _visits(c["A4"], alice, 6, start=local(2026, 2, 1))
    _visits(c["A6"], alice, 2, start=local(2026, 2, 1))
    _visits(c["C1"], charlie, 3, start=local(2026, 2, 1))

    r1 = AssessmentRun.objects.create(model=model, status=RunStatus.DONE, as_of=dt.date(2026, 3, 31))
    r2 = AssessmentRun.objects.create(model=model, status=RunStatus.DONE, as_of=AS_OF)
    AssessmentRun.objects.create(model=model, status=RunStatus.RUNNING, as_of=AS_OF)
    for key, tier in (("A1", "key"), ("A2", "key"), ("A3", "strategic"), ("C1", "regular")):
        Assessment.objects.create(run=r1, customer=c[key], score=Decimal("50"), computed_tier=tier, tier=tier)
    for key, prev, tier in (
        ("A1", "key", "strategic"),
        ("A2", "key", "key"),
        ("A3", "strategic", "key"),
        ("A4", "", "regular"),
        ("C1", "regular", "strategic"),
    ):
        Assessment.objects.create(
            run=r2, customer=c[key], score=Decimal("60"), computed_tier=tier, tier=tier, previous_tier=prev
        )
    r1.migration = {"key": {"key": 2}, "strategic": {"strategic": 1}, "regular": {"regular": 1}}
    r1.customers = 4
    r1.save()
    r2.migration = {
        "key": {"strategic": 1, "key": 1},
        "strategic": {"key": 1},
        "": {"regular": 1},
        "regular": {"strategic": 2},
    }
    r2.customers, r2.changed = 5, 4
    r2.save()
    return {"model": model, "c": c, "r1": r1, "r2": r2, "product": product}
