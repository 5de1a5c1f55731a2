"""Framework agreements: terms, planned quantities per product per period (normalised to the period's first
day, inside the term), in force and ended, who may change them, and the plan against actual orders checked
against a hand-computed example."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from steelyard.core.models import AuditLog
from steelyard.customers.testing import make_customer
from steelyard.orders.models import OrderStatus
from steelyard.orders.testing import make_order, make_product
from steelyard.sales.models import AgreementStatus, FrameworkLine
from steelyard.sales.selectors.agreements import agreement_plan_vs_actual
from steelyard.sales.services import agreements as svc
from steelyard.sales.tests.quotes_world import make_world

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def world(personas):
    return make_world(personas)


def _agreement(personas, world, **kw):
    values = {
        "title": "2025年度港口设备框架协议",
        "period": "quarter",
        "starts_on": dt.date(2025, 2, 15),
        "ends_on": dt.date(2025, 12, 31),
    }
    values.update(kw)
    return svc.agreement_create(actor=personas.alice, customer=world.customer, **values)


def _plan(agreement) -> dict:
    return {
        (ln.product_id, ln.period_start): ln.planned_quantity
        for ln in FrameworkLine.objects.filter(agreement=agreement)
    }


def test_periods_start_on_the_first_day_of_their_month_or_quarter():
    assert svc.period_start_of(dt.date(2025, 3, 10), "quarter") == dt.date(2025, 1, 1)
    assert svc.period_start_of(dt.date(2025, 12, 31), "quarter") == dt.date(2025, 10, 1)
    assert svc.period_start_of(dt.date(2025, 3, 10), "month") == dt.date(2025, 3, 1)
    assert svc.next_period(dt.date(2025, 10, 1), "quarter") == dt.date(2026, 1, 1)
    assert svc.period_end_of(dt.date(2024, 2, 1), "month") == dt.date(2024, 2, 29)
    assert svc.period_label(dt.date(2025, 4, 1), "quarter") == "2025 Q2"


def test_an_agreement_is_numbered_and_lists_the_periods_of_its_term(personas, world):
    agreement = _agreement(personas, world)
    assert agreement.number == f"FA-{agreement.created_at.year}-{agreement.pk:05d}"
    assert agreement.status == AgreementStatus.DRAFT
    assert svc.agreement_periods(agreement) == [dt.date(2025, m, 1) for m in (1, 4, 7, 10)]
    monthly = _agreement(
        personas, world, period="month", starts_on=dt.date(2025, 1, 20), ends_on=dt.date(2025, 3, 5)
    )
    assert svc.agreement_periods(monthly) == [dt.date(2025, 1, 1), dt.date(2025, 2, 1), dt.date(2025, 3, 1)]
    assert AuditLog.objects.filter(verb=svc.AUDIT_CREATED, object_id=str(agreement.pk)).exists()


def test_bad_terms_are_refused_field_by_field(personas, world):
    with pytest.raises(ValidationError) as e:
        _agreement(personas, world, title=" ", period="week", ends_on=dt.date(2025, 1, 1))
    assert set(e.value.message_dict) == {"title", "period", "ends_on"}
    first = _agreement(personas, world, number="FA-港务-01")
    with pytest.raises(ValidationError) as e:
        _agreement(personas, world, number="FA-港务-01")
    assert set(e.value.message_dict) == {"number"}
    assert first.number == "FA-港务-01"


def test_planned_quantities_are_normalised_validated_and_replaced(personas, world):
    agreement = _agreement(personas, world)
    svc.agreement_lines_set(
        actor=personas.alice,
        agreement=agreement,
        lines=[
            {"product": world.crane.pk, "period_start": "2025-03-10", "planned_quantity": "2"},
            {"product": world.hoist, "period_start": dt.date(2025, 5, 1), "planned_quantity": "10"},
        ],
    )
    assert _plan(agreement) == {
        (world.crane.pk, dt.date(2025, 1, 1)): D("2.00"),
        (world.hoist.pk, dt.date(2025, 4, 1)): D("10.00"),
    }
    with pytest.raises(ValidationError) as e:
        svc.agreement_lines_set(
            actor=personas.alice,
            agreement=agreement,
            lines=[
                {"product": world.crane.pk, "period_start": "2026-01-02", "planned_quantity": "1"},
                {"product": 999999, "period_start": "2025-04-01", "planned_quantity": "1"},
                {"product": world.crane.pk, "period_start": "2025-04-01", "planned_quantity": "-1"},
                {"product": world.hoist.pk, "period_start": "2025-07-01", "planned_quantity": "1"},
                {"product": world.hoist.pk, "period_start": "2025-08-15", "planned_quantity": "2"},
                {"product": world.hoist.pk, "period_start": "someday", "planned_quantity": "2"},
            ],
        )
    assert set(e.value.message_dict) == {
        "lines.0.period_start",
        "lines.1.product",
        "lines.2.planned_quantity",
        "lines.4.period_start",  # the same product and quarter twice
        "lines.5.period_start",
    }
    # 0 removes a cell; ``replace`` removes everything not given.
    svc.agreement_lines_set(
        actor=personas.alice,
        agreement=agreement,
        lines=[{"product": world.hoist.pk, "period_start": "2025-04-01", "planned_quantity": "0"}],
    )
    assert _plan(agreement) == {(world.crane.pk, dt.date(2025, 1, 1)): D("2.00")}
    svc.agreement_lines_set(
        actor=personas.alice,
        agreement=agreement,
        lines=[{"product": world.hoist.pk, "period_start": "2025-10-01", "planned_quantity": "5"}],
        replace=True,
    )
    assert _plan(agreement) == {(world.hoist.pk, dt.date(2025, 10, 1)): D("5.00")}
    assert AuditLog.objects.filter(verb=svc.AUDIT_PLAN, object_id=str(agreement.pk)).count() == 3


def test_terms_cannot_leave_planned_quantities_behind(personas, world):
    agreement = _agreement(personas, world)
    svc.agreement_lines_set(
        actor=personas.alice,
        agreement=agreement,
        lines=[{"product": world.crane.pk, "period_start": "2025-11-01", "planned_quantity": "1"}],
    )
    with pytest.raises(ValidationError):
        svc.agreement_update(actor=personas.alice, agreement=agreement, ends_on=dt.date(2025, 9, 30))
    with pytest.raises(ValidationError) as e:
        svc.agreement_update(actor=personas.alice, agreement=agreement, period="month")
    assert set(e.value.message_dict) == {"period"}
    svc.agreement_update(
        actor=personas.alice, agreement=agreement, title="新标题", ends_on=dt.date(2026, 3, 31)
    )
    agreement.refresh_from_db()
    assert agreement.title == "新标题" and agreement.ends_on == dt.date(2026, 3, 31)


def test_in_force_then_ended_and_then_frozen(personas, world):
    agreement = _agreement(personas, world)
    with pytest.raises(ValidationError):
        svc.agreement_activate(actor=personas.alice, agreement=agreement)  # nothing planned
    with pytest.raises(ValidationError):
        svc.agreement_end(actor=personas.alice, agreement=agreement)  # not in force
    svc.agreement_lines_set(
        actor=personas.alice,
        agreement=agreement,
        lines=[{"product": world.crane.pk, "period_start": "2025-04-01", "planned_quantity": "1"}],
    )
    assert svc.agreement_activate(actor=personas.alice, agreement=agreement).status == AgreementStatus.ACTIVE
    assert svc.agreement_end(actor=personas.bob, agreement=agreement).status == AgreementStatus.ENDED
    with pytest.raises(ValidationError):
        svc.agreement_lines_set(actor=personas.alice, agreement=agreement, lines=[])
    with pytest.raises(ValidationError):
        svc.agreement_update(actor=personas.alice, agreement=agreement, title="x")


def test_only_who_may_change_the_customer_changes_its_agreements(personas, world):
    with pytest.raises(PermissionDenied):
        svc.agreement_create(
            actor=personas.charlie,
            customer=world.customer,
            title="x",
            starts_on=dt.date(2025, 1, 1),
            ends_on=dt.date(2025, 12, 31),
        )
    agreement = _agreement(personas, world)
    with pytest.raises(PermissionDenied):
        svc.agreement_lines_set(actor=personas.charlie, agreement=agreement, lines=[])
    svc.agreement_update(actor=personas.bob, agreement=agreement, notes="经理补充")  # the manager may
    svc.agreement_update(actor=personas.dora, agreement=agreement, notes="总监补充")


def test_plan_against_actual_orders_matches_a_hand_computed_example(personas, world):
    agreement = _agreement(personas, world)  # quarters, 2025-02-15 .. 2025-12-31
    crane, hoist = world.crane, world.hoist
    spare = make_product("SP-01", line=world.line, name="钢丝绳", price="2000")
    svc.agreement_lines_set(
        actor=personas.alice,
        agreement=agreement,
        lines=[
            {"product": crane.pk, "period_start": "2025-03-10", "planned_quantity": "2"},
            {"product": crane.pk, "period_start": "2025-04-01", "planned_quantity": "3"},
            {"product": hoist.pk, "period_start": "2025-06-30", "planned_quantity": "10"},
            {"product": hoist.pk, "period_start": "2025-10-01", "planned_quantity": "5"},
        ],
    )
    c = world.customer

    def order(day, lines, status=OrderStatus.CONFIRMED, customer=c):
        return make_order(customer, lines=[(p, q, "1000") for p, q in lines], ordered_on=day, status=status)

    order(dt.date(2025, 2, 1), [(crane, 1)])  # before the term starts: not counted
    order(dt.date(2025, 3, 1), [(crane, 1)])  # Q1
    order(dt.date(2025, 5, 20), [(crane, 2), (hoist, 4)])  # Q2
    order(dt.date(2025, 6, 30), [(hoist, 3)], status=OrderStatus.CANCELLED)  # cancelled: not counted
    order(dt.date(2025, 6, 30), [(hoist, "2.5")], status=OrderStatus.SHIPPED)  # Q2
    order(dt.date(2025, 11, 11), [(hoist, 6)], status=OrderStatus.ACCEPTED)  # Q4
    order(dt.date(2025, 5, 1), [(crane, 5)], customer=make_customer(personas.alice))  # another customer
    order(dt.date(2026, 1, 5), [(crane, 1)])  # after the term ends
    order(dt.date(2025, 8, 1), [(spare, 3)])  # a product not in the plan

    pva = agreement_plan_vs_actual(agreement)
    assert pva.labels == ["2025 Q1", "2025 Q2", "2025 Q3", "2025 Q4"]
    rows = {r.product.code: [(c.planned, c.actual, c.attainment) for c in r.cells] for r in pva.rows}
    assert rows == {
        "CD1": [(0, 0, None), (D("10"), D("6.5"), D("65.0")), (0, 0, None), (D("5"), D("6"), D("120.0"))],
        "MQ2535": [(D("2"), D("1"), D("50.0")), (D("3"), D("2"), D("66.7")), (0, 0, None), (0, 0, None)],
    }
    totals = {r.product.code: (r.total.planned, r.total.actual, r.total.attainment) for r in pva.rows}
    assert totals == {"CD1": (D("15"), D("12.5"), D("83.3")), "MQ2535": (D("5"), D("3"), D("60.0"))}
    assert [(c.planned, c.actual, c.attainment) for c in pva.period_totals] == [
        (D("2"), D("1"), D("50.0")),
        (D("13"), D("8.5"), D("65.4")),
        (0, 0, None),
        (D("5"), D("6"), D("120.0")),
    ]
    assert (pva.total.planned, pva.total.actual, pva.total.attainment) == (D("20"), D("15.5"), D("77.5"))
    assert pva.chart() == {
        "periods": ["2025 Q1", "2025 Q2", "2025 Q3", "2025 Q4"],
        "planned": [2.0, 13.0, 0.0, 5.0],
        "actual": [1.0, 8.5, 0.0, 6.0],
    }


def test_plan_against_actual_per_month(personas, world):
    agreement = _agreement(
        personas, world, period="month", starts_on=dt.date(2025, 1, 1), ends_on=dt.date(2025, 3, 31)
    )
    svc.agreement_lines_set(
        actor=personas.alice,
        agreement=agreement,
        lines=[{"product": world.crane.pk, "period_start": "2025-02-14", "planned_quantity": "4"}],
    )
    make_order(world.customer, lines=[(world.crane, 1, "1")], ordered_on=dt.date(2025, 2, 28))
    make_order(world.customer, lines=[(world.crane, 2, "1")], ordered_on=dt.date(2025, 3, 1))
    pva = agreement_plan_vs_actual(agreement)
    [row] = pva.rows
    assert [(c.planned, c.actual) for c in row.cells] == [(0, 0), (D("4"), D("1")), (0, D("2"))]
    assert row.cells[1].attainment == D("25.0") and row.cells[2].attainment is None
