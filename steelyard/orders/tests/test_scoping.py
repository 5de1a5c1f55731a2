"""Order-to-cash records are scoped through their customer; the shared scope equals each model's visible_to."""

from __future__ import annotations

import pytest

from steelyard.customers.testing import make_customer, make_pool
from steelyard.orders.models import Contract, Invoice, Payment, SalesOrder, Shipment
from steelyard.orders.selectors import o2c_scoped
from steelyard.orders.testing import make_order
from steelyard.orders.tests._o2c import book

pytestmark = pytest.mark.django_db

MODELS = (Contract, SalesOrder, Shipment, Invoice, Payment)


@pytest.fixture
def world(personas):
    pool = make_pool(personas.team_a, members=[personas.alice])
    own = make_customer(personas.alice, name="爱丽丝的客户")
    other = make_customer(personas.charlie, name="查理的客户")
    pooled = make_customer(None, name="公海客户", pool=pool)
    book(own, prefix="A-")
    book(other, prefix="C-")
    make_order(pooled, number="POOL-1")
    return {"own": own, "other": other, "pooled": pooled}


def test_the_shared_scope_is_each_models_visible_to(world, personas):
    from django.contrib.auth.models import AnonymousUser

    for user in (
        personas.alice,
        personas.bob,
        personas.charlie,
        personas.dora,
        personas.admin,
        AnonymousUser(),
    ):
        scoped = o2c_scoped(user=user)
        for model in MODELS:
            expected = set(model.objects.visible_to(user).values_list("pk", flat=True))
            assert set(scoped(model).values_list("pk", flat=True)) == expected, (user, model)


def test_each_persona_sees_exactly_their_customers_records(world, personas):
    def customers(user, model):
        return set(model.objects.visible_to(user).values_list("customer__legal_name", flat=True))

    for model in MODELS:
        assert customers(personas.admin, model) >= {"爱丽丝的客户", "查理的客户"}
        assert "查理的客户" not in customers(personas.alice, model)
        assert "查理的客户" not in customers(personas.bob, model)
        assert "爱丽丝的客户" not in customers(personas.charlie, model)
        assert customers(personas.charlie, model) == {"查理的客户"}
    assert customers(personas.alice, SalesOrder) == {"爱丽丝的客户", "公海客户"}  # pool member
    assert customers(personas.bob, SalesOrder) == {
        "爱丽丝的客户",
        "公海客户",
    }  # his team's unit owns the pool
