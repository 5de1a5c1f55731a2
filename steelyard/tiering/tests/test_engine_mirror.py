"""A run outside any transaction: the tiers are mirrored onto the customers after the commit, in chunks."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from steelyard.core.models import Job
from steelyard.customers.models import Customer
from steelyard.customers.testing import make_customer
from steelyard.tiering.models import CustomerTier
from steelyard.tiering.services import assessment as engine
from steelyard.tiering.services.assessment import assessment_run, customer_tiers_mirror
from steelyard.tiering.tests.test_engine_run import buy, fit, make_model

AS_OF = dt.date(2026, 6, 30)


@pytest.mark.django_db(transaction=True)
def test_a_committed_run_mirrors_every_tier_in_chunks_and_then_follows_up(monkeypatch):
    assert not connection.in_atomic_block
    monkeypatch.setattr(engine, "MIRROR_CHUNK", 2)  # several chunks, shared out to the workers on PostgreSQL
    model = make_model()
    customers = [make_customer(name=f"客户{i}") for i in range(7)]
    for c in customers[:2]:
        buy(c, "6000000")  # strategic
    for c in customers[2:4]:
        buy(c, "2000000")  # key
    fit(customers[4], "1")
    run = assessment_run(model=model, as_of=AS_OF)
    tiers = dict(Customer.objects.values_list("pk", "tier"))
    expected = dict(CustomerTier.objects.filter(model=model).values_list("customer_id", "tier"))
    assert [tiers[c.pk] for c in customers] == ["strategic"] * 2 + ["key"] * 2 + ["regular"] * 3
    assert {pk: tiers[pk] for pk in expected} == expected
    # Nothing left to do: a second mirror changes nobody.
    assert customer_tiers_mirror(model, AS_OF) == 0
    # The pool-clock follow-up is queued after the mirror, not before it.
    assert Job.objects.filter(task_path__endswith="follow_tier_changes", args=[run.pk]).exists()


@pytest.mark.django_db(transaction=True)
def test_a_mirror_cut_short_is_completed_by_the_next_mirror():
    model = make_model()
    a, b = make_customer(name="甲"), make_customer(name="乙")
    buy(a, "6000000")
    assessment_run(model=model, as_of=AS_OF)
    Customer.objects.filter(pk__in=[a.pk, b.pk]).update(tier="")  # as if the mirror had died half-way
    assert customer_tiers_mirror(model, AS_OF, chunk_size=1) == 2
    assert dict(Customer.objects.filter(pk__in=[a.pk, b.pk]).values_list("pk", "tier")) == {
        a.pk: "strategic",
        b.pk: "regular",
    }
