"""The order-to-cash demo: ``seed_demo`` builds a consistent two-year history, and only once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db.models import DecimalField, F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from steelyard.catalog.models import Product, ProductKind, ProductLine
from steelyard.customers.models import Customer
from steelyard.integrations.models import (
    ExternalRecord,
    ExternalSystem,
    InboundResult,
    NotificationEndpoint,
    WebhookDelivery,
    WebhookSubscription,
)
from steelyard.orders.demo import CustomerFacts, plan_customer_history
from steelyard.orders.models import (
    Capacity,
    Contract,
    Invoice,
    OrderLine,
    OrderStatus,
    Payment,
    Plant,
    SalesOrder,
    Shipment,
    ShippedUnit,
)
from steelyard.orders.services.status import current_status

pytestmark = pytest.mark.django_db
MONEY = DecimalField(max_digits=16, decimal_places=2)


@pytest.fixture(autouse=True)
def _fast_hasher(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", "--scale", "S", stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    models = [
        m for app in ("catalog", "orders", "integrations") for m in apps.get_app_config(app).get_models()
    ]
    return {m._meta.label: m._default_manager.count() for m in [*models, Customer]}


def test_seed_demo_twice_builds_one_consistent_history():
    """One seed (it takes seconds), then every invariant, then a second run that creates nothing."""
    first = seed()
    before = counts()
    assert "orders:" in first and "integrations:" in first
    check_catalogue()
    check_amounts()
    check_timelines()
    check_the_story()
    check_the_rep()
    check_customers()
    check_capacity()
    check_integrations()
    second = seed()
    assert "created=0" in second
    assert counts() == before
    assert before["orders.SalesOrder"] >= 500
    assert before["orders.Capacity"] == 4 * 3 * 18


def check_catalogue():
    assert set(ProductLine.objects.values_list("code", flat=True)) >= {"CRANE", "ENGINE", "RAIL", "MARINE"}
    qy50 = Product.objects.get(code="QY50KA")
    assert qy50.list_price == Decimal("1850000.00") and qy50.kind == ProductKind.MACHINE
    assert qy50.fitted_by.filter(kind=ProductKind.OPTION).count() >= 3
    assert qy50.fitted_by.filter(kind=ProductKind.SPARE_PART).exists()
    assert qy50.fitted_by.filter(kind=ProductKind.SERVICE).exists()
    # Options, parts and services fit machines only; machines fit nothing.
    assert not Product.objects.filter(kind=ProductKind.MACHINE, fits__isnull=False).exists()
    assert not Product.objects.filter(fits__isnull=False).exclude(fits__kind=ProductKind.MACHINE).exists()
    assert Plant.objects.count() == 3


def check_amounts():
    assert not OrderLine.objects.exclude(amount=F("quantity") * F("unit_price")).exists()
    orders = SalesOrder.objects.annotate(total=Sum("lines__amount"))
    assert not orders.exclude(amount=F("total")).exists()
    shipments = Shipment.objects.annotate(
        value=Sum(F("lines__quantity") * F("lines__order_line__unit_price"))
    )
    assert not shipments.exclude(amount=F("value")).exists()
    for contract in Contract.objects.prefetch_related("orders"):
        live = [o.amount for o in contract.orders.all() if o.status != OrderStatus.CANCELLED]
        assert contract.amount == sum(live or [o.amount for o in contract.orders.all()]), contract
    paid = (
        Payment.objects.filter(invoice=OuterRef("pk")).values("invoice").annotate(t=Sum("amount")).values("t")
    )
    invoices = Invoice.objects.annotate(
        paid=Coalesce(Subquery(paid), Value(Decimal("0")), output_field=MONEY)
    )
    assert not invoices.filter(paid__gt=F("amount")).exists()
    assert not invoices.filter(amount__gt=F("order__amount")).exists()
    assert not Shipment.objects.exclude(customer=F("order__customer")).exists()


def check_timelines():
    for order in SalesOrder.objects.prefetch_related("status_events"):
        events = [(e.status, e.at) for e in order.status_events.all()]
        assert current_status(events) == (order.status, order.status_at), order
        assert all(at <= timezone.now() for _s, at in events)
    statuses = set(SalesOrder.objects.values_list("status", flat=True))
    assert {"accepted", "cancelled", "in_production", "shipped"} <= statuses
    # Shipped orders have shipments with serial numbers; open ones recently ordered.
    shipped = SalesOrder.objects.filter(status__in=["shipped", "delivered", "installed", "accepted"])
    assert not shipped.filter(shipments__isnull=True).exists()
    assert not SalesOrder.objects.filter(
        status__in=["confirmed", "scheduled"], shipments__isnull=False
    ).exists()
    assert ShippedUnit.objects.filter(product__kind=ProductKind.MACHINE).count() >= 500


def check_the_story():
    today = timezone.localdate()
    assert Payment.objects.filter(received_on__gt=F("invoice__due_on")).exists()
    assert SalesOrder.objects.filter(shipments__number__endswith="2").exists()  # a second lot
    partial = (
        OrderLine.objects.filter(product__kind=ProductKind.MACHINE)
        .annotate(sent=Sum("shipment_lines__quantity"))
        .filter(sent__gt=0, sent__lt=F("quantity"))
    )
    assert partial.exists()
    paid = (
        Payment.objects.filter(invoice=OuterRef("pk")).values("invoice").annotate(t=Sum("amount")).values("t")
    )
    overdue = Invoice.objects.annotate(
        paid=Coalesce(Subquery(paid), Value(Decimal("0")), output_field=MONEY)
    ).filter(due_on__lt=today, paid__lt=F("amount"))
    assert overdue.filter(paid=0).exists()
    assert Payment.objects.filter(received_on__lte=today).count() == Payment.objects.count()


def check_the_rep():
    today = timezone.localdate()
    mine = SalesOrder.objects.filter(customer__owner__username="rep")
    assert mine.filter(status=OrderStatus.IN_PRODUCTION).exists()
    week_start = today - dt.timedelta(days=today.weekday())
    assert Shipment.objects.filter(customer__owner__username="rep", shipped_on__gte=week_start).exists()
    assert len(set(mine.values_list("status", flat=True))) >= 4


def check_customers():
    buyers = Customer.objects.filter(orders__isnull=False).distinct()
    assert buyers.count() >= 200
    for c in buyers.prefetch_related("orders", "orders__status_events")[:60]:
        live = [o for o in c.orders.all() if o.status != OrderStatus.CANCELLED]
        if not live:
            continue
        assert c.first_order_date == min(o.ordered_on for o in live)
        confirmed = max(e.at for o in live for e in o.status_events.all() if e.status == "confirmed")
        assert c.last_deal_at == confirmed
    assert not Customer.objects.filter(orders__isnull=True, first_order_date__isnull=False).exists()


def check_capacity():
    months = sorted(set(Capacity.objects.values_list("month", flat=True)))
    assert len(months) == 18 and all(m.day == 1 for m in months)
    assert months[0] <= timezone.localdate() <= months[-1] + dt.timedelta(days=31)
    assert not Capacity.objects.filter(capacity_units=0, planned_units__gt=0).exists()


def check_integrations():
    erp = ExternalSystem.objects.get(code="erp")
    assert set(ExternalSystem.objects.values_list("code", flat=True)) >= {"erp", "mes", "aps"}
    for system in ExternalSystem.objects.filter(code__in=["erp", "mes", "aps"]):
        assert system.user.is_machine and system.user.roles.filter(code="integration").exists()
    # The key map points at real records, so an ERP batch updates them instead of duplicating.
    for entity, model in (("customer", Customer), ("product", Product), ("order", SalesOrder)):
        ids = list(
            ExternalRecord.objects.filter(system=erp, entity=entity).values_list("object_id", flat=True)
        )
        assert ids and model.objects.filter(pk__in=ids).count() == len(ids)
    order = SalesOrder.objects.filter(source="erp").first()
    assert ExternalRecord.objects.filter(system=erp, entity="order", external_id=order.number).exists()
    rejected = InboundResult.objects.filter(outcome="rejected")
    assert rejected.count() >= 4 and all(r.reasons and r.reasons[0]["message"] for r in rejected)
    sub = WebhookSubscription.objects.get(system=erp)
    assert set(sub.events) == {"contract.signed", "order.status_changed"}
    assert set(WebhookDelivery.objects.filter(subscription=sub).values_list("status", flat=True)) == {
        "delivered",
        "failed",
    }
    assert set(NotificationEndpoint.objects.values_list("channel", flat=True)) == {"wecom", "email"}


def test_the_plan_is_deterministic():
    now = timezone.now()
    prices = {"TC7052": Decimal("1260000"), "QY50KA": Decimal("1850000"), "HY60208031": Decimal("23800")}
    kinds = {"TC7052": "machine", "QY50KA": "machine", "HY60208031": "spare_part"}
    facts = CustomerFacts(
        index=7, status="active", industry="construction", is_key_account=True, overseas=False
    )
    a = plan_customer_history(seed=42, facts=facts, now=now, prices=prices, kinds=kinds)
    b = plan_customer_history(seed=42, facts=facts, now=now, prices=prices, kinds=kinds)
    c = plan_customer_history(seed=43, facts=facts, now=now, prices=prices, kinds=kinds)
    assert a == b and a != c
    assert [o.number for o in a.orders] == [o.number for o in b.orders]
