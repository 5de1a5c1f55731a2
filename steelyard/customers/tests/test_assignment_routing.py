"""Routing new customers through territories: specificity, priority, strategies, no match."""

from __future__ import annotations

import pytest

from steelyard.core.models import AuditLog
from steelyard.customers.models import OwnershipAction, OwnershipEvent, Territory
from steelyard.customers.services.territories import customer_assign_auto, customer_route, territory_route
from steelyard.customers.testing import make_customer, make_pool
from steelyard.org.models import Role, User

pytestmark = pytest.mark.django_db


def rep(name: str, unit, manager=None, **kw) -> User:
    u = User.objects.create(
        username=name, display_name=name.capitalize(), org_unit=unit, manager=manager, **kw
    )
    u.roles.set([Role.objects.get(code="sales_rep")])
    return u


def territory(code: str, *, members=(), parent=None, **kw) -> Territory:
    t = Territory.objects.create(name=code, code=code, parent=parent, **kw)
    for m in members:
        t.members.add(m)
    return t


def test_it_routes_to_the_deepest_matching_territory(personas):
    east = territory("east", provinces=["上海", "江苏"], owner=personas.bob, strategy="owner")
    territory("east-ports", parent=east, industries=["ports"], owner=personas.alice, strategy="owner")
    port = make_customer(None, province="上海", industry="ports")
    mine = make_customer(None, province="上海", industry="mining")
    assert customer_route(customer=port)[0] == personas.alice
    assert customer_route(customer=mine)[0] == personas.bob


def test_it_prefers_the_lowest_priority_among_equally_deep_territories(personas):
    territory("a", provinces=["广东"], owner=personas.bob, strategy="owner", priority=50)
    territory("b", provinces=["广东"], owner=personas.alice, strategy="owner", priority=10)
    owner, t = territory_route(province="广东省")
    assert owner == personas.alice and t.code == "b"


def test_it_matches_an_empty_criterion_as_anything_and_skips_inactive_territories(personas):
    territory("all", owner=personas.bob, strategy="owner", priority=999)
    territory("gd", provinces=["广东"], owner=personas.alice, strategy="owner", is_active=False)
    assert territory_route(province="广东", industry="mining")[0] == personas.bob


def test_it_returns_nothing_when_no_territory_matches(personas):
    territory("gd", provinces=["广东"], owner=personas.alice, strategy="owner")
    assert customer_route(customer=make_customer(None, province="北京")) == (None, None)


def test_it_requires_a_product_line_match_when_the_territory_names_one(personas):
    territory("cranes", product_lines=["crane"], owner=personas.alice, strategy="owner")
    assert territory_route(province="上海")[0] is None
    assert territory_route(province="上海", product_line="crane")[0] == personas.alice


def test_it_cycles_round_robin_members_in_order_and_skips_inactive(personas):
    erin = rep("erin", personas.team_a, personas.bob)
    gone = rep("gone", personas.team_a, personas.bob, is_active=False)
    t = territory("rr", members=[personas.alice, gone, erin], strategy="round_robin")
    owners = []
    for _ in range(4):
        c = make_customer(None, province="上海")
        owners.append(customer_assign_auto(actor=personas.admin, customer=c).owner)
    assert owners == [personas.alice, erin, personas.alice, erin]
    t.refresh_from_db()
    assert t.rr_cursor == 4


def test_it_does_not_advance_the_cursor_on_a_dry_run(personas):
    t = territory("rr", members=[personas.alice, personas.bob], strategy="round_robin")
    c = make_customer(None, province="上海")
    assert customer_route(customer=c)[0] == customer_route(customer=c)[0] == personas.alice
    t.refresh_from_db()
    assert t.rr_cursor == 0


def test_it_gives_least_loaded_customers_to_the_lightest_member(personas, django_assert_max_num_queries):
    erin = rep("erin", personas.team_a, personas.bob)
    territory("ll", members=[personas.alice, erin], strategy="least_loaded")
    for _ in range(3):
        make_customer(personas.alice)
    make_customer(erin)
    with django_assert_max_num_queries(3):
        owner, _t = territory_route(province="上海")
    assert owner == erin


def test_it_assigns_owner_unit_territory_pool_and_records_the_rule(personas):
    pool = make_pool(personas.team_a, members=[personas.alice])
    t = territory("sh", provinces=["上海"], owner=personas.alice, strategy="owner", pool=pool)
    c = make_customer(None, province="上海")
    customer_assign_auto(actor=personas.admin, customer=c)
    c.refresh_from_db()
    assert (c.owner, c.org_unit, c.territory, c.pool) == (personas.alice, personas.team_a, t, pool)
    assert c.owned_since is not None
    event = OwnershipEvent.objects.get(customer=c)
    assert (event.action, event.rule, event.to_owner) == (
        OwnershipAction.ASSIGN,
        "territory:sh",
        personas.alice,
    )
    assert AuditLog.objects.filter(verb="customers.assigned", object_id=str(c.pk)).exists()


def test_it_leaves_an_unmatched_customer_in_its_pool(personas):
    pool = make_pool(personas.team_a, members=[personas.alice])
    c = make_customer(None, pool=pool, province="西藏")
    customer_assign_auto(actor=personas.admin, customer=c)
    c.refresh_from_db()
    assert c.owner is None and c.pool == pool and c.territory is None
    assert not OwnershipEvent.objects.filter(customer=c).exists()
