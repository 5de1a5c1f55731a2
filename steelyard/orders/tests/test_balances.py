"""Customer balances: exact on a hand-built history, many customers in one statement, scoped for people."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.http import Http404
from django.utils import timezone

from steelyard.customers.models import Customer
from steelyard.customers.testing import make_customer
from steelyard.orders.models import OrderStatus
from steelyard.orders.selectors import Balances, balances_for, customer_balances
from steelyard.orders.testing import make_order, make_product
from steelyard.orders.tests._o2c import EXPECTED, book, invoice, pay, ship

pytestmark = pytest.mark.django_db


def test_it_computes_every_balance_exactly_on_a_hand_built_history(personas):
    c = make_customer(personas.alice, name="上海港机械有限公司")
    today = timezone.localdate()
    book(c, today)
    b = balances_for([c.pk], today=today)[c.pk]
    assert b.as_dict() == EXPECTED
    assert all(isinstance(v, Decimal) for v in b.as_dict().values())


def test_it_measures_overdue_on_the_day_it_is_asked_for(personas):
    c = make_customer(personas.alice)
    today = timezone.localdate()
    book(c, today)
    # 40 days ago neither INV-1 (due 30 days ago) nor INV-4 (due 5 days ago) was due yet.
    earlier = balances_for([c.pk], today=today - dt.timedelta(days=40))[c.pk]
    assert earlier.overdue == Decimal("0.00")
    # Ten days on, INV-2 (200,000, unpaid) is overdue too.
    later = balances_for([c.pk], today=today + dt.timedelta(days=11))[c.pk]
    assert later.overdue == Decimal("649999.75")  # capped by outstanding: 499,999.75 + 200,000 > 649,999.75


def test_money_on_account_caps_overdue_at_what_is_owed(personas):
    c = make_customer(personas.alice)
    today = timezone.localdate()
    inv = invoice(c, "100", issued=today - dt.timedelta(days=60), due=today - dt.timedelta(days=30))
    pay(c, "10", on=today - dt.timedelta(days=20), invoice=inv)
    pay(c, "50", on=today - dt.timedelta(days=2))  # on account, names no invoice
    b = balances_for([c.pk], today=today)[c.pk]
    assert (b.invoiced, b.received, b.outstanding, b.overdue) == (
        Decimal("100.00"),
        Decimal("60.00"),
        Decimal("40.00"),
        Decimal("40.00"),
    )
    pay(c, "70", on=today)  # paid in advance: outstanding negative, nothing overdue
    b = balances_for([c.pk], today=today)[c.pk]
    assert b.outstanding == Decimal("-30.00") and b.overdue == Decimal("0.00")


def test_open_order_value_never_goes_below_zero_per_order(personas):
    c = make_customer(personas.alice)
    product = make_product()
    over = make_order(c, lines=[(product, 1, "100")], status=OrderStatus.SHIPPED)
    ship(
        over, [(over.lines.get(), 1, [])], on=timezone.localdate(), amount="130"
    )  # shipped above order value
    make_order(c, lines=[(product, 1, "50")])
    b = balances_for([c.pk])[c.pk]
    assert b.open_order_value == Decimal("50.00")
    assert b.shipped == Decimal("130.00") and b.ordered == Decimal("150.00")


def test_it_reads_many_customers_in_one_statement(personas, django_assert_num_queries):
    today = timezone.localdate()
    a = make_customer(personas.alice)
    book(a, today, prefix="A-")
    b = make_customer(personas.charlie)
    make_order(b, lines=[(make_product(), 3, "10")])
    empty = make_customer(personas.alice)
    with django_assert_num_queries(1):
        result = balances_for([a.pk, b.pk, empty.pk, 999_999], today=today)
    assert set(result) == {a.pk, b.pk, empty.pk}
    assert result[a.pk].as_dict() == EXPECTED
    assert result[b.pk].ordered == Decimal("30.00") and result[b.pk].open_order_value == Decimal("30.00")
    assert result[empty.pk] == Balances()
    # A queryset of customer pks is used as a subquery (no id list travels).
    with django_assert_num_queries(1):
        by_qs = balances_for(Customer.objects.filter(owner=personas.alice).values("pk"), today=today)
    assert set(by_qs) == {a.pk, empty.pk} and by_qs[a.pk] == result[a.pk]


def test_it_reads_in_chunks_beyond_the_chunk_size(personas, django_assert_num_queries, monkeypatch):
    from steelyard.orders import selectors

    monkeypatch.setattr(selectors, "BALANCE_CHUNK", 2)
    customers = [make_customer(personas.alice) for _ in range(5)]
    make_order(customers[4], lines=[(make_product(), 1, "7")])
    with django_assert_num_queries(3):
        result = balances_for([c.pk for c in customers])
    assert len(result) == 5 and result[customers[4].pk].ordered == Decimal("7.00")


def test_a_person_gets_balances_only_of_customers_they_see(personas):
    c = make_customer(personas.alice)
    book(c)
    for user in (personas.alice, personas.bob, personas.dora, personas.admin):
        assert customer_balances(user=user, customer=c).as_dict() == EXPECTED
    with pytest.raises(Http404):
        customer_balances(user=personas.charlie, customer=c)
    with pytest.raises(Http404):
        customer_balances(user=personas.alice, customer="not-a-number")
