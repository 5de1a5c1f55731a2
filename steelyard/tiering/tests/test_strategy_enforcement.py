"""The menu enforced where the code exists: the pool clock's "no visit" days, visit plans, credit defaults."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from steelyard.customers.models import Customer, PoolRule, VisitFrequencyDefault
from steelyard.customers.selectors.activities import visit_frequency_for, visits_overdue
from steelyard.customers.services import pool as pool_svc
from steelyard.customers.tasks import pool_sweep_job
from steelyard.customers.testing import make_customer, make_pool
from steelyard.tiering.selectors.strategy import customer_credit_terms
from steelyard.tiering.services import strategy as svc
from steelyard.tiering.tests.strategy_testing import clear_menus, make_menu

pytestmark = pytest.mark.django_db

TZ = ZoneInfo("Asia/Shanghai")
T0 = dt.datetime(2027, 3, 3, 10, 0, tzinfo=TZ)
D0 = T0.date()


def days(n: int) -> dt.date:
    return D0 + dt.timedelta(days=n)


@pytest.fixture
def pool(personas):
    p = make_pool(personas.team_a, members=[personas.alice, personas.bob], admins=[personas.bob])
    for trigger, tier, n in [("no_visit", "", 45), ("no_visit", "regular", 50), ("no_followup", "", 200)]:
        PoolRule.objects.create(pool=p, trigger=trigger, tier=tier, days=n)
    return p


@pytest.fixture
def v1(db):
    clear_menus()
    return make_menu(
        1,
        {
            "key": {
                "pool_recycle_days": 120,
                "visit_every_days": 30,
                "credit_limit": 8000000,
                "payment_terms_days": 60,
            }
        },
        effective_from=dt.date(2026, 1, 1),
    )


def owned(personas, pool, tier: str) -> Customer:
    c = make_customer(personas.alice, pool=pool, tier=tier, owned_since=T0)
    return pool_svc.customer_clock_recompute(c, now=T0)


def _new_version(personas, values: dict, start: dt.date | None = None):
    draft = svc.strategy_menu_create(actor=personas.dora)
    svc.strategy_rule_set(actor=personas.dora, menu=draft, tier="key", values=values)
    return svc.strategy_menu_activate(actor=personas.dora, menu=draft, effective_from=start)


# --- the pool clock ---------------------------------------------------------------------------------


@time_machine.travel(T0, tick=False)
def test_the_pool_clock_uses_the_menus_no_visit_days_for_the_tier(personas, pool, v1):
    key = owned(personas, pool, "key")
    regular = owned(personas, pool, "regular")
    untiered = owned(personas, pool, "")
    assert (key.recycle_at, key.recycle_trigger) == (days(120), "no_visit")  # the menu, not the pool's 45
    assert (regular.recycle_at, regular.recycle_trigger) == (days(50), "no_visit")  # the menu sets no rule
    assert untiered.recycle_at == days(45)
    # The pool's other triggers still apply: a stricter follow-up rule wins over the menu's days.
    PoolRule.objects.create(pool=pool, trigger="no_followup", tier="key", days=90)
    assert pool_svc.customer_clock_recompute(key, now=T0).recycle_trigger == "no_followup"


@time_machine.travel(T0, tick=False)
def test_a_pool_without_rules_recycles_by_the_menu(personas, v1):
    bare = make_pool(personas.team_a, name="空规则公海", members=[personas.alice])
    c = owned(personas, bare, "key")
    assert c.recycle_at == days(120)
    assert owned(personas, bare, "regular").recycle_at is None  # neither the pool nor the menu


@time_machine.travel(T0, tick=False)
def test_activating_a_version_today_recomputes_the_clocks_it_changes(personas, pool, v1):
    key = make_customer(personas.alice, pool=pool, tier="key", owned_since=T0 - dt.timedelta(days=30))
    regular = owned(personas, pool, "regular")
    pool_svc.customer_record_event(customer=key, event="visit", at=T0 - dt.timedelta(days=10))
    key.refresh_from_db()
    assert key.recycle_at == days(110)

    menu = _new_version(personas, {"pool_recycle_days": 60})

    key.refresh_from_db()
    regular.refresh_from_db()
    assert key.recycle_at == days(50)  # the last visit + 60, written by the activation's job
    assert regular.recycle_at == days(50)  # untouched (the pool's regular rule)
    assert menu.apply_job is not None and menu.apply_job.result["changed"] == 1
    assert menu.apply_job.result["customers"] == 1  # only the tier whose days changed was read


@time_machine.travel(T0, tick=False)
def test_a_future_version_is_not_used_before_its_date_and_the_nightly_job_brings_it_in(personas, pool, v1):
    key = owned(personas, pool, "key")
    _new_version(personas, {"pool_recycle_days": 20}, start=days(25))
    key.refresh_from_db()
    assert key.recycle_at == days(120)  # still v1's days
    assert pool_svc.customer_clock_recompute(key, now=T0).recycle_at == days(120)

    with time_machine.travel(T0 + dt.timedelta(days=24), tick=False):
        result = pool_sweep_job.call()
        key.refresh_from_db()
        assert result["menu_applied"] == 1  # v1 had never been applied to the clocks: done once, no change
        assert (key.owner_id, key.recycle_at) == (personas.alice.pk, days(120))

    with time_machine.travel(T0 + dt.timedelta(days=25, hours=-8), tick=False):  # 02:00 on the start date
        result = pool_sweep_job.call()
    key.refresh_from_db()
    assert result["menu_applied"] == 2 and result["menus_retired"] == 1
    # v2's 20 days are already past: the same nightly run recomputed the clock, then swept the customer.
    assert key.owner_id is None and result["moved"] == 1


@time_machine.travel(T0, tick=False)
def test_the_sweep_reads_the_menu_once_per_pool_not_per_customer(personas, pool, v1):
    for i in range(12):
        owned(personas, pool, "key" if i % 2 else "regular")
    with CaptureQueriesContext(connection) as ctx:
        pool_svc.pool_recompute(pool=pool)
    menu_reads = [q for q in ctx.captured_queries if "tiering_strategymenu" in q["sql"]]
    assert len(menu_reads) == 1


# --- visit plans -------------------------------------------------------------------------------------


def test_visit_frequency_comes_from_the_menu_unless_the_customer_has_its_own(personas, v1):
    VisitFrequencyDefault.objects.create(tier="key", days=14)
    VisitFrequencyDefault.objects.create(tier="", days=60)
    key = make_customer(personas.alice, tier="key")
    regular = make_customer(personas.alice, tier="regular")
    assert visit_frequency_for(key) == 30  # the menu wins over the tier default
    assert visit_frequency_for(regular) == 60  # the menu does not set it: the defaults
    key.visit_every_days = 7
    assert visit_frequency_for(key) == 7  # the customer's own wins over both


@time_machine.travel(T0, tick=False)
def test_the_overdue_visit_list_uses_the_menus_frequency_in_sql(personas, v1, django_assert_max_num_queries):
    VisitFrequencyDefault.objects.create(tier="", days=60)
    late = make_customer(
        personas.alice, name="重点久未拜访", tier="key", last_visit_at=T0 - dt.timedelta(days=35)
    )
    make_customer(personas.alice, name="重点刚拜访", tier="key", last_visit_at=T0 - dt.timedelta(days=20))
    make_customer(personas.alice, name="一般客户", tier="regular", last_visit_at=T0 - dt.timedelta(days=35))
    for i in range(5):
        make_customer(
            personas.alice, name=f"重点客户{i}", tier="key", last_visit_at=T0 - dt.timedelta(days=40 + i)
        )
    with django_assert_max_num_queries(6):
        rows = list(visits_overdue(user=personas.alice))
    by_pk = {c.pk: c for c in rows}
    assert late.pk in by_pk and by_pk[late.pk].visit_frequency == 30
    assert by_pk[late.pk].days_overdue.days == 5
    assert {c.legal_name for c in rows} == {"重点久未拜访", *(f"重点客户{i}" for i in range(5))}


# --- credit defaults ---------------------------------------------------------------------------------


def test_the_credit_default_comes_from_the_menu_unless_the_customer_has_its_own(personas, v1):
    c = make_customer(personas.alice, tier="key")
    assert customer_credit_terms(c) == (Decimal("8000000.00"), 60, "menu")
    c.credit_limit = Decimal("1500000")
    c.payment_terms_days = 45
    c.save()
    assert customer_credit_terms(c) == (Decimal("1500000.00"), 45, "customer")
