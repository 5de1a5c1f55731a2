"""``strategy_for`` and ``customer_credit_terms``: the lookup chain, product-line tiers, effective dates, cost."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from steelyard.customers.testing import make_customer
from steelyard.orders.testing import make_product_line
from steelyard.tiering.models import CustomerTier, MenuStatus, Tier, TierModel
from steelyard.tiering.selectors.strategy import (
    DEFAULTS,
    SOURCE_DEFAULT,
    SOURCE_TIER,
    SOURCE_TIER_LINE,
    SOURCE_UNTIERED,
    SOURCE_UNTIERED_LINE,
    customer_credit_terms,
    menu_in_force,
    menu_state,
    strategy_cache,
    strategy_for,
)
from steelyard.tiering.tests.strategy_testing import clear_menus, make_menu

pytestmark = pytest.mark.django_db

TZ = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2027, 5, 10, 10, 0, tzinfo=TZ)
TODAY = NOW.date()


@pytest.fixture
def line(db):
    return make_product_line("CRANE", name="起重机", name_en="Cranes")


@pytest.fixture
def menu(db, line):
    clear_menus()
    return make_menu(
        1,
        {
            "key": {
                "max_discount_pct": 10,
                "approval_chain": ["sales_manager", "sales_director"],
                "pool_recycle_days": 120,
            },
            ("key", line): {"max_discount_pct": 12, "delivery_priority": 1},
            "": {
                "max_discount_pct": 3,
                "payment_terms_days": 15,
                "credit_limit": 100000,
                "visit_every_days": 90,
            },
            ("", line): {"max_discount_pct": 4, "response_hours": 48},
        },
    )


def test_the_shipped_menu_is_in_force_with_a_rule_per_tier(db):
    # The data migration ships v1; everyone reads it until an administrator makes a new version.
    m = menu_in_force(dt.date(2026, 6, 1))
    assert m.version == 1
    assert {t for t, _line in m.rules} == {"strategic", "key", "regular", "potential", ""}
    assert menu_in_force(dt.date(2025, 12, 31)).menu_id is None  # before its start


def test_it_walks_the_chain_tier_line_then_tier_then_untiered_line_then_untiered(personas, menu, line):
    key = make_customer(personas.alice, tier="key")
    odd = make_customer(personas.alice, tier="unknown")
    none = make_customer(personas.alice)

    s = strategy_for(key, line)
    assert (s.source, s.max_discount_pct, s.delivery_priority) == (SOURCE_TIER_LINE, Decimal("12.00"), 1)
    assert s.tier == "key" and s.product_line_id == line.pk and s.menu_version == 1
    s = strategy_for(key)
    assert (s.source, s.max_discount_pct) == (SOURCE_TIER, Decimal("10.00"))
    assert s.approval_chain == ("sales_manager", "sales_director")
    assert s.pool_recycle_days == 120
    s = strategy_for(odd, line)
    assert (s.source, s.max_discount_pct, s.response_hours) == (SOURCE_UNTIERED_LINE, Decimal("4.00"), 48)
    s = strategy_for(odd)
    assert (s.source, s.max_discount_pct, s.payment_terms_days) == (SOURCE_UNTIERED, Decimal("3.00"), 15)
    assert strategy_for(none, line.pk).source == SOURCE_UNTIERED_LINE  # a line's id works as well
    assert strategy_for(none).source == SOURCE_UNTIERED


def test_a_matching_rule_answers_with_all_its_fields(personas, menu, line):
    # The (key, line) rule sets no pool days: the menu does not set them there; no mixing with (key, *).
    s = strategy_for(make_customer(personas.alice, tier="key"), line)
    assert s.pool_recycle_days is None
    assert s.approval_chain == ()


def test_without_any_rule_the_built_in_defaults_answer(personas, db):
    clear_menus()
    s = strategy_for(make_customer(personas.alice, tier="key"))
    assert s.source == SOURCE_DEFAULT and s.menu_version is None
    assert s.max_discount_pct == DEFAULTS["max_discount_pct"]
    assert s.payment_terms_days == 30 and s.delivery_priority == 5 and s.visitor_seniority == "rep"


def test_with_a_line_it_uses_the_tier_under_the_lines_active_model(personas, menu, line):
    model = TierModel.objects.create(code="crane-model", name="起重机分级", product_line=line)
    Tier.objects.create(model=model, code="key", name="重点", rank=1)
    c = make_customer(personas.alice, tier="regular")  # the global tier
    assert strategy_for(c, line).source == SOURCE_UNTIERED_LINE
    ct = CustomerTier.objects.create(customer=c, model=model, tier="key", since=timezone.now())
    s = strategy_for(c, line)
    assert (s.tier, s.source) == ("key", SOURCE_TIER_LINE)
    assert strategy_for(c).tier == "regular"  # without a line: the global tier
    # An override in force wins; an expired one does not.
    ct.tier, ct.override_tier, ct.override_until = "regular", "key", TODAY
    ct.save()
    assert strategy_for(c, line, on=TODAY).tier == "key"
    assert strategy_for(c, line, on=TODAY + dt.timedelta(days=1)).tier == "regular"
    # An inactive model is ignored: back to the global tier.
    TierModel.objects.filter(pk=model.pk).update(is_active=False)
    assert strategy_for(c, line).tier == "regular"


def test_it_reads_the_version_in_force_on_the_day_and_never_a_future_one_early(personas, db):
    clear_menus()
    old = make_menu(
        1,
        {"": {"max_discount_pct": 5}},
        effective_from=dt.date(2027, 1, 1),
        effective_to=dt.date(2027, 5, 31),
    )
    make_menu(2, {"": {"max_discount_pct": 8}}, effective_from=dt.date(2027, 6, 1))
    make_menu(3, {"": {"max_discount_pct": 50}}, status=MenuStatus.DRAFT, effective_from=dt.date(2027, 1, 1))
    c = make_customer(personas.alice)
    assert strategy_for(c, on=dt.date(2026, 12, 31)).menu_version is None
    assert strategy_for(c, on=dt.date(2027, 5, 31)).max_discount_pct == Decimal("5.00")
    assert strategy_for(c, on=dt.date(2027, 6, 1)).max_discount_pct == Decimal("8.00")
    with time_machine.travel(NOW, tick=False):  # default "on" is today, local time
        assert strategy_for(c).menu_version == 1
    # A retired version still answers for the days it was in force.
    old.status = MenuStatus.RETIRED
    old.save()
    assert strategy_for(c, on=dt.date(2027, 2, 1)).menu_version == 1
    # One retired before it started (to < from) is never in force.
    make_menu(
        4,
        {"": {"max_discount_pct": 1}},
        status=MenuStatus.RETIRED,
        effective_from=dt.date(2028, 1, 1),
        effective_to=dt.date(2027, 12, 31),
    )
    assert strategy_for(c, on=dt.date(2028, 1, 1)).menu_version == 2


def test_menu_states(db):
    clear_menus()
    draft = make_menu(1, {}, status=MenuStatus.DRAFT, effective_from=TODAY)
    soon = make_menu(2, {}, effective_from=TODAY + dt.timedelta(days=3))
    now = make_menu(3, {}, effective_from=TODAY - dt.timedelta(days=3))
    ended = make_menu(
        4,
        {},
        status=MenuStatus.RETIRED,
        effective_from=TODAY - dt.timedelta(days=9),
        effective_to=TODAY - dt.timedelta(days=4),
    )
    never = make_menu(
        5, {}, status=MenuStatus.RETIRED, effective_from=TODAY, effective_to=TODAY - dt.timedelta(days=1)
    )
    assert [menu_state(m, TODAY) for m in (draft, soon, now, ended, never)] == [
        "draft",
        "scheduled",
        "in_force",
        "ended",
        "never_in_force",
    ]


def test_it_costs_one_query_without_a_line_and_two_with_one(personas, menu, line, django_assert_num_queries):
    c = make_customer(personas.alice, tier="key")
    with django_assert_num_queries(1):
        strategy_for(c)
    with django_assert_num_queries(2):
        strategy_for(c, line)
    m = menu_in_force()
    with django_assert_num_queries(0):
        strategy_for(c, menu=m)
    with strategy_cache(), django_assert_num_queries(1):
        for _i in range(5):
            strategy_for(c)


def test_credit_terms_are_the_customers_own_else_the_tiers(personas, menu):
    c = make_customer(personas.alice, tier="unknown")
    assert customer_credit_terms(c) == (Decimal("100000.00"), 15, "menu")
    c.credit_limit = Decimal("250000")
    assert customer_credit_terms(c) == (Decimal("250000"), 15, "mixed")
    c.payment_terms_days = 45
    assert customer_credit_terms(c) == (Decimal("250000"), 45, "customer")
    clear_menus()
    fresh = make_customer(personas.alice, tier="key")
    assert customer_credit_terms(fresh) == (None, 30, "default")
