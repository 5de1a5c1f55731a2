"""The customers demo seeder: believable volumes, consistent pool clocks, and idempotent."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from steelyard.core.demo import run_demo
from steelyard.customers.demo import plan_demo_customers
from steelyard.customers.models import Activity, Contact, Customer, Pool, PoolRule, Territory
from steelyard.customers.validators import validate_credit_code

pytestmark = pytest.mark.django_db(transaction=False)


def test_it_plans_the_same_customers_for_the_same_seed():
    a, b = plan_demo_customers(42), plan_demo_customers(42)
    assert [s.legal_name for s in a] == [s.legal_name for s in b]
    assert len({s.key for s in a}) == len(a)
    for s in a:
        if s.credit_code:
            validate_credit_code(s.credit_code)


def test_it_seeds_customers_once(settings):
    ctx = run_demo(only=["org", "customers"], log=lambda line: None)
    assert ctx.created["customers.customer"] >= 250
    assert Customer.objects.count() == ctx.created["customers.customer"]
    assert Contact.objects.count() >= Customer.objects.count()
    assert Activity.objects.count() >= 2000
    assert Pool.objects.exists() and PoolRule.objects.exists() and Territory.objects.exists()
    pool_share = Customer.objects.filter(owner__isnull=True).count() / Customer.objects.count()
    assert 0.1 <= pool_share <= 0.2
    rep = ctx.login("rep")
    mine = Customer.objects.filter(owner=rep)
    assert 10 <= mine.count() <= 20
    soon = timezone.localdate() + dt.timedelta(days=7)
    assert mine.filter(recycle_at__lte=soon).exists()
    # The clock follows the activities: the latest done visit is the stored last visit.
    c = mine.first()
    latest = Activity.objects.filter(customer=c, kind="visit", status="done").order_by("-occurred_at").first()
    assert latest is not None and c.last_visit_at == latest.occurred_at
    assert all(c.recycle_at is not None for c in Customer.objects.filter(owner__isnull=False)[:50])

    again = run_demo(only=["org", "customers"], log=lambda line: None)
    assert again.total_created == 0
