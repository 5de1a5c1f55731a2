"""Order to cash from external systems: the timeline, MES production, shipments, scoping."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from steelyard.customers.models import Customer
from steelyard.customers.testing import make_customer, valid_credit_code
from steelyard.integrations.tests.inbound_support import apply, install_event_log
from steelyard.orders.models import OrderStatusEvent, SalesOrder, Shipment, ShippedUnit
from steelyard.orders.testing import make_order, make_product, make_system

TZ = timezone.get_current_timezone()


def at(day: int, hour: int = 9) -> dt.datetime:
    return dt.datetime(2025, 4, day, hour, tzinfo=TZ)


@pytest.fixture
def events(monkeypatch):
    from steelyard.core import events as events_module

    monkeypatch.setattr(events_module, "_subscribers", list(events_module._subscribers))
    return install_event_log()


@pytest.fixture
def world(personas):
    system, _token = make_system("erp")
    code = valid_credit_code()
    customer = make_customer(personas.alice, name="徐州港务集团有限公司", credit_code=code)
    make_product("QY25K")
    make_product("QY50K")
    apply(
        system,
        "order",
        [
            {
                "external_id": "O1",
                "version": 1,
                "number": "SO-1",
                "customer_credit_code": code,
                "ordered_on": "2025-04-01",
                "lines": [
                    {"line_no": 1, "product": "QY25K", "quantity": "2", "unit_price": "1000"},
                    {"line_no": 2, "product": "QY50K", "quantity": "1", "unit_price": "3000"},
                ],
            }
        ],
    )
    order = SalesOrder.objects.get(number="SO-1")
    return system, customer, order


def statuses(order: SalesOrder) -> list[str]:
    return list(order.status_events.order_by("at", "id").values_list("status", flat=True))


# --- the timeline -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_new_order_is_confirmed_and_counts_as_a_deal(world):
    _system, customer, order = world
    assert order.status == "confirmed" and order.customer == customer
    assert statuses(order) == ["confirmed"]
    assert order.status_at == dt.datetime(2025, 4, 1, tzinfo=TZ)
    customer.refresh_from_db()
    assert customer.last_deal_at == dt.datetime(2025, 4, 1, tzinfo=TZ)


@pytest.mark.django_db
def test_status_events_out_of_order_leave_the_furthest_status(world, events):
    system, _customer, order = world
    outcome = apply(
        system,
        "order_status",
        [
            {"order": "O1", "status": "delivered", "at": at(20).isoformat()},
            {"order": "SO-1", "status": "in_production", "at": at(5).isoformat(), "note": "开工"},
            {"order": "O1", "status": "shipped", "at": at(18).isoformat()},
            {"order": "O9", "status": "shipped", "at": at(18).isoformat()},
        ],
    )
    assert [r.outcome for r in outcome.results] == ["created", "created", "created", "rejected"]
    assert outcome.results[3].reasons[0]["field"] == "order"
    order.refresh_from_db()
    assert order.status == "delivered" and order.status_at == at(20)
    assert statuses(order) == ["confirmed", "in_production", "shipped", "delivered"]
    changes = [e for e in events.events if e.type == "order.status_changed"]
    assert [e.payload["status"] for e in changes] == ["delivered"]
    assert order.status_events.get(status="in_production").note == "开工"
    # the same events again change nothing, in any order
    events.clear()
    again = apply(system, "order_status", [{"order": "O1", "status": "shipped", "at": at(18).isoformat()}])
    assert again.results[0].outcome == "unchanged" and events.types() == []


@pytest.mark.django_db
def test_cancelled_ends_the_order(world):
    system, _customer, order = world
    apply(
        system,
        "order_status",
        [{"order": "O1", "status": "cancelled", "at": at(3).isoformat(), "version": 1}],
    )
    apply(
        system, "order_status", [{"order": "O1", "status": "shipped", "at": at(10).isoformat(), "version": 1}]
    )
    order.refresh_from_db()
    assert order.status == "cancelled"


@pytest.mark.django_db
def test_a_corrected_status_event_moves_the_status_back(world):
    system, _customer, order = world
    record = {
        "external_id": "EV1",
        "version": 1,
        "order": "O1",
        "status": "shipped",
        "at": at(10).isoformat(),
    }
    apply(system, "order_status", [record])
    order.refresh_from_db()
    assert order.status == "shipped"
    outcome = apply(system, "order_status", [{**record, "version": 2, "status": "scheduled"}])
    assert outcome.results[0].outcome == "updated"
    order.refresh_from_db()
    assert order.status == "scheduled" and statuses(order) == ["confirmed", "scheduled"]


@pytest.mark.django_db
def test_status_events_on_crm_orders_use_our_number(personas):
    system, _token = make_system("erp")
    customer = make_customer(personas.alice)
    order = make_order(customer, number="CRM-7", at=at(1))
    outcome = apply(
        system, "order_status", [{"order": "CRM-7", "status": "scheduled", "at": at(2).isoformat()}]
    )
    assert outcome.results[0].outcome == "created"
    order.refresh_from_db()
    assert order.status == "scheduled"


@pytest.mark.django_db
def test_an_order_sent_with_a_status_records_it_once(world):
    system, _customer, order = world
    record = {
        "external_id": "O1",
        "version": 2,
        "number": "SO-1",
        "customer": None,
        "customer_credit_code": order.customer.credit_code,
        "ordered_on": "2025-04-01",
        "status": "scheduled",
        "status_at": at(4).isoformat(),
        "lines": [
            {"line_no": 1, "product": "QY25K", "quantity": "2", "unit_price": "1000"},
            {"line_no": 2, "product": "QY50K", "quantity": "1", "unit_price": "3000"},
        ],
    }
    apply(system, "order", [record])
    apply(system, "order", [{**record, "version": 3, "status_at": at(6).isoformat(), "notes": "x"}])
    order.refresh_from_db()
    assert order.status == "scheduled" and order.status_at == at(4)
    assert statuses(order) == ["confirmed", "scheduled"]


# --- production (MES) ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_mes_work_orders_drive_in_production_and_produced(world):
    system, _customer, order = world
    mes, _token = make_system("mes", kind="mes")
    wo = {"order": "SO-1", "plant": "XZ01", "version": 1}
    apply(mes, "production", [{**wo, "external_id": "W1", "line_no": 1, "status": "released"}])
    order.refresh_from_db()
    assert order.status == "confirmed"
    apply(
        mes,
        "production",
        [
            {
                **wo,
                "external_id": "W1",
                "version": 2,
                "line_no": 1,
                "status": "in_production",
                "actual_start": "2025-04-06",
            }
        ],
    )
    order.refresh_from_db()
    assert order.status == "in_production" and order.status_at == dt.datetime(2025, 4, 6, tzinfo=TZ)
    apply(
        mes,
        "production",
        [{**wo, "external_id": "W2", "line_no": 2, "status": "in_production", "actual_start": "2025-04-08"}],
    )
    assert order.status_events.filter(status="in_production").count() == 1  # the first one only
    apply(
        mes,
        "production",
        [
            {
                **wo,
                "external_id": "W1",
                "version": 3,
                "line_no": 1,
                "status": "completed",
                "quantity_done": "2",
                "actual_finish": "2025-04-20",
            }
        ],
    )
    order.refresh_from_db()
    assert order.status == "in_production"  # line 2 is not done yet
    apply(
        mes,
        "production",
        [
            {
                **wo,
                "external_id": "W2",
                "version": 2,
                "line_no": 2,
                "status": "completed",
                "actual_finish": "2025-04-25",
            }
        ],
    )
    order.refresh_from_db()
    assert order.status == "produced" and order.status_at == dt.datetime(2025, 4, 25, tzinfo=TZ)
    assert statuses(order) == ["confirmed", "in_production", "produced"]
    w1 = order.lines.get(line_no=1).work_orders.get()
    assert (w1.number, w1.quantity, w1.quantity_done, w1.plant.code) == (
        "W1",
        Decimal("2"),
        Decimal("2"),
        "XZ01",
    )


@pytest.mark.django_db
def test_a_work_order_for_an_unknown_line_is_rejected(world):
    system, _customer, _order = world
    outcome = apply(
        system,
        "production",
        [{"external_id": "W9", "version": 1, "order": "O1", "line_no": 7, "status": "planned"}],
    )
    assert outcome.results[0].outcome == "rejected" and outcome.results[0].reasons[0]["field"] == "line_no"


# --- shipments ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_shipments_mark_the_order_shipped_then_delivered(world, events):
    system, _customer, order = world
    first = {
        "external_id": "S1",
        "version": 1,
        "order": "O1",
        "shipped_on": "2025-05-01",
        "carrier": "德邦",
        "tracking": "DB1",
        "lines": [{"line_no": 1, "quantity": "2", "serial_numbers": ["A-1", "A-2"]}],
    }
    apply(system, "shipment", [first])
    order.refresh_from_db()
    assert order.status == "confirmed"  # line 2 has not left yet
    shipment = Shipment.objects.get(number="S1")
    assert shipment.amount == Decimal("2000.00") and shipment.customer == order.customer
    assert shipment.tracking_no == "DB1"
    assert sorted(ShippedUnit.objects.values_list("serial_number", flat=True)) == ["A-1", "A-2"]
    assert events.types().count("shipment.shipped") == 1
    second = {
        **first,
        "external_id": "S2",
        "shipped_on": "2025-05-03",
        "lines": [{"line_no": 2, "quantity": "1"}],
    }
    apply(system, "shipment", [second])
    order.refresh_from_db()
    assert order.status == "shipped" and order.status_at == dt.datetime(2025, 5, 3, tzinfo=TZ)
    apply(system, "shipment", [{**first, "version": 2, "delivered_on": "2025-05-06"}])
    order.refresh_from_db()
    assert order.status == "shipped"  # S2 has not arrived
    apply(system, "shipment", [{**second, "version": 2, "delivered_on": "2025-05-08"}])
    order.refresh_from_db()
    assert order.status == "delivered" and order.status_at == dt.datetime(2025, 5, 8, tzinfo=TZ)
    assert events.types().count("shipment.shipped") == 2  # updates publish nothing new


@pytest.mark.django_db
def test_shipment_updates_replace_lines_and_serials(world):
    system, _customer, _order = world
    record = {
        "external_id": "S1",
        "version": 1,
        "order": "O1",
        "shipped_on": "2025-05-01",
        "lines": [{"line_no": 1, "quantity": "2", "serial_numbers": ["A-1", "A-2"]}],
    }
    apply(system, "shipment", [record])
    apply(
        system,
        "shipment",
        [
            {
                **record,
                "version": 2,
                "lines": [
                    {"line_no": 1, "quantity": "1", "serial_numbers": ["A-2"]},
                    {"line_no": 2, "quantity": "1", "serial_numbers": ["B-1"]},
                ],
            }
        ],
    )
    shipment = Shipment.objects.get()
    assert shipment.amount == Decimal("4000.00")
    assert sorted(ShippedUnit.objects.values_list("serial_number", flat=True)) == ["A-2", "B-1"]
    assert sorted(shipment.lines.values_list("order_line__line_no", "quantity")) == [
        (1, Decimal("1")),
        (2, Decimal("1")),
    ]


@pytest.mark.django_db
def test_overshipping_serial_reuse_and_unknown_lines_are_rejected(world):
    system, _customer, _order = world
    base = {"version": 1, "order": "O1", "shipped_on": "2025-05-01"}
    apply(
        system,
        "shipment",
        [
            {
                **base,
                "external_id": "S1",
                "lines": [{"line_no": 1, "quantity": "1", "serial_numbers": ["A-1"]}],
            }
        ],
    )
    outcome = apply(
        system,
        "shipment",
        [
            {**base, "external_id": "S2", "lines": [{"line_no": 1, "quantity": "2"}]},
            {
                **base,
                "external_id": "S3",
                "lines": [{"line_no": 1, "quantity": "1", "serial_numbers": ["A-1"]}],
            },
            {**base, "external_id": "S4", "lines": [{"line_no": 5, "quantity": "1"}]},
            {
                **base,
                "external_id": "S5",
                "lines": [{"line_no": 1, "quantity": "1", "serial_numbers": ["A-9"]}],
            },
            {**base, "external_id": "S6", "lines": [{"line_no": 1, "quantity": "1"}]},
        ],
    )
    assert [r.outcome for r in outcome.results] == ["rejected", "rejected", "rejected", "created", "rejected"]
    assert outcome.results[0].reasons[0]["field"] == "lines.0.quantity"
    assert outcome.results[1].reasons[0]["field"] == "lines.0.serial_numbers"
    assert outcome.results[2].reasons[0]["field"] == "lines.0.line_no"
    assert outcome.results[4].reasons[0]["field"] == "lines.0.quantity"  # S5 took the last one


@pytest.mark.django_db
def test_a_shipped_line_cannot_be_removed_from_the_order(world):
    system, _customer, order = world
    apply(
        system,
        "shipment",
        [
            {
                "external_id": "S1",
                "version": 1,
                "order": "O1",
                "shipped_on": "2025-05-01",
                "lines": [{"line_no": 2, "quantity": "1"}],
            }
        ],
    )
    outcome = apply(
        system,
        "order",
        [
            {
                "external_id": "O1",
                "version": 2,
                "customer_credit_code": order.customer.credit_code,
                "ordered_on": "2025-04-01",
                "lines": [{"line_no": 1, "product": "QY25K", "quantity": "2", "unit_price": "1000"}],
            }
        ],
    )
    assert outcome.results[0].outcome == "rejected" and outcome.results[0].reasons[0]["field"] == "lines"
    assert order.lines.count() == 2


# --- invoices, payments, contracts --------------------------------------------------------------


@pytest.mark.django_db
def test_invoices_and_payments_check_their_customer(world, personas):
    system, _customer, _order = world
    other = make_customer(personas.charlie, credit_code=valid_credit_code())
    apply(
        system,
        "customer",
        [
            {
                "external_id": "OTHER",
                "version": 1,
                "legal_name": other.legal_name,
                "credit_code": other.credit_code,
            }
        ],
    )
    outcome = apply(
        system,
        "invoice",
        [
            {
                "external_id": "I1",
                "version": 1,
                "customer": "OTHER",
                "order": "O1",
                "issued_on": "2025-05-01",
                "due_on": "2025-06-01",
                "amount": "1",
            },
            {
                "external_id": "I2",
                "version": 1,
                "customer": "OTHER",
                "issued_on": "2025-05-01",
                "due_on": "2025-04-01",
                "amount": "1",
            },
            {
                "external_id": "I3",
                "version": 1,
                "customer": "OTHER",
                "issued_on": "2025-05-01",
                "due_on": "2025-06-01",
                "amount": "10",
                "tax": "1.15",
            },
        ],
    )
    assert [r.outcome for r in outcome.results] == ["rejected", "rejected", "created"]
    assert outcome.results[0].reasons[0]["field"] == "order"
    assert outcome.results[1].reasons[0]["field"] == "due_on"
    payment = apply(
        system,
        "payment",
        [
            {
                "external_id": "R1",
                "version": 1,
                "customer_credit_code": other.credit_code,
                "invoice": "I3",
                "received_on": "2025-05-02",
                "amount": "10",
            }
        ],
    )
    assert payment.results[0].outcome == "created"


@pytest.mark.django_db
def test_contract_signed_is_published_when_a_draft_is_signed(world, events):
    system, customer, _order = world
    record = {
        "external_id": "K1",
        "version": 1,
        "customer_credit_code": customer.credit_code,
        "status": "draft",
        "amount": "100",
    }
    apply(system, "contract", [record])
    assert "contract.signed" not in events.types()
    apply(system, "contract", [{**record, "version": 2, "status": "signed", "signed_on": "2025-04-02"}])
    assert events.types().count("contract.signed") == 1
    apply(system, "contract", [{**record, "version": 3, "status": "active", "signed_on": "2025-04-02"}])
    assert events.types().count("contract.signed") == 1


# --- scoping ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_erp_orders_are_visible_to_the_customers_owner_and_manager_only(world, personas):
    _system, customer, order = world
    assert customer.owner == personas.alice
    assert SalesOrder.objects.visible_to(personas.alice).filter(pk=order.pk).exists()
    assert SalesOrder.objects.visible_to(personas.bob).filter(pk=order.pk).exists()
    assert not SalesOrder.objects.visible_to(personas.charlie).filter(pk=order.pk).exists()
    assert SalesOrder.objects.visible_to(personas.admin).filter(pk=order.pk).exists()


@pytest.mark.django_db
def test_orders_follow_their_customer_when_referenced_by_erp_id(personas):
    system, _token = make_system("erp")
    make_product("QY25K")
    apply(
        system,
        "customer",
        [{"external_id": "C7", "version": 1, "legal_name": "查理的客户有限公司", "owner": "charlie"}],
    )
    apply(
        system,
        "order",
        [
            {
                "external_id": "O7",
                "version": 1,
                "customer": "C7",
                "ordered_on": "2025-04-01",
                "lines": [{"line_no": 1, "product": "QY25K", "quantity": "1", "unit_price": "1"}],
            }
        ],
    )
    order = SalesOrder.objects.get(number="O7")
    assert order.customer == Customer.objects.get(legal_name="查理的客户有限公司")
    assert SalesOrder.objects.visible_to(personas.charlie).filter(pk=order.pk).exists()
    assert not SalesOrder.objects.visible_to(personas.alice).filter(pk=order.pk).exists()
    assert OrderStatusEvent.objects.filter(order=order, source="erp").exists()


@pytest.mark.django_db
def test_confirmed_orders_move_the_pool_clock_latest_first(personas):
    from steelyard.customers.models import PoolRule, PoolTrigger
    from steelyard.customers.testing import make_pool

    system, _token = make_system("erp")
    pool = make_pool(personas.team_a, members=[personas.alice], exclude_won_within_days=0)
    PoolRule.objects.create(pool=pool, trigger=PoolTrigger.NO_DEAL, days=90)
    code = valid_credit_code()
    customer = make_customer(personas.alice, credit_code=code, pool=pool)
    make_product("QY25K")

    def order(ext: str, day: str) -> dict:
        line = {"line_no": 1, "product": "QY25K", "quantity": "1", "unit_price": "1"}
        return {
            "external_id": ext,
            "version": 1,
            "customer_credit_code": code,
            "ordered_on": day,
            "lines": [line],
        }

    apply(system, "order", [order("O1", "2025-04-10"), order("O2", "2025-03-01")])
    customer.refresh_from_db()
    assert customer.last_deal_at == dt.datetime(2025, 4, 10, tzinfo=TZ)
    assert customer.recycle_at == dt.date(2025, 7, 9) and customer.recycle_trigger == PoolTrigger.NO_DEAL
    apply(system, "order", [order("O3", "2025-02-01")])  # an older deal changes nothing
    customer.refresh_from_db()
    assert customer.last_deal_at == dt.datetime(2025, 4, 10, tzinfo=TZ)
    apply(system, "order", [order("O4", "2025-05-01")])
    customer.refresh_from_db()
    assert customer.recycle_at == dt.date(2025, 7, 30)
