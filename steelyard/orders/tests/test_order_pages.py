"""Order-to-cash pages from three sides: lists, details, the order timeline, the customer 360 sections,
search, menu and the home widget; and their query counts."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from steelyard.customers.testing import make_customer
from steelyard.orders.models import OrderStatus
from steelyard.orders.services.orders import order_status_add
from steelyard.orders.testing import make_order, make_product, make_product_line
from steelyard.orders.tests._o2c import add_event, at_day, book

pytestmark = pytest.mark.django_db

OWN, OTHER = "爱丽丝的港口客户", "查理的电厂客户"
LISTS = ("order_list", "contract_list", "shipment_list", "invoice_list", "payment_list")


@pytest.fixture
def world(personas):
    own = make_customer(personas.alice, name=OWN)
    other = make_customer(personas.charlie, name=OTHER)
    return {"own": own, "other": other, "a": book(own, prefix="A-"), "c": book(other, prefix="C-")}


def _body(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def _steps(body: str) -> list[tuple[str, str]]:
    return re.findall(r'data-step="([a-z_]+)" data-state="([a-z]+)"', body)


# --- lists and details, three sides ---------------------------------------------------------------


@pytest.mark.parametrize("name", LISTS)
def test_every_list_shows_each_persona_only_their_customers(world, personas, client_for, name):
    url = reverse(name)
    for user in (personas.alice, personas.bob, personas.dora, personas.admin):
        body = _body(client_for(user).get(url))
        assert OWN in body, (name, user)
        assert (OTHER in body) == (user == personas.admin), (name, user)
    body = _body(client_for(personas.charlie).get(url))
    assert OTHER in body and OWN not in body


@pytest.mark.parametrize("name", LISTS)
def test_every_list_narrowed_to_an_unseen_customer_is_empty(world, personas, client_for, name):
    body = _body(client_for(personas.charlie).get(reverse(name), {"customer": world["own"].pk}))
    assert OWN not in body and "empty-state" in body
    body = _body(client_for(personas.alice).get(reverse(name), {"customer": world["own"].pk}))
    assert f'data-filter-customer="{world["own"].pk}"' in body


def test_order_and_contract_pages_answer_404_outside_the_scope(world, personas, client_for):
    urls = [
        reverse("order_detail", args=[world["a"]["a"].pk]),
        reverse("contract_detail", args=[world["a"]["contract"].pk]),
    ]
    for url in urls:
        for user in (personas.alice, personas.bob, personas.dora, personas.admin):
            assert client_for(user).get(url).status_code == 200, (url, user)
        assert client_for(personas.charlie).get(url).status_code == 404
    assert client_for(personas.alice).get(reverse("order_detail", args=[999_999])).status_code == 404


def test_the_order_list_filters_searches_and_sorts(world, personas, client_for):
    c = client_for(personas.alice)
    url = reverse("order_list")

    def numbers(params):
        return re.findall(
            r'data-order="\d+">\s*<td><a class="fw-semibold" href="[^"]+">([^<]+)</a>',
            _body(c.get(url, params)),
        )

    assert numbers({}) == ["A-SO-B", "A-SO-C", "A-SO-D", "A-SO-A"]  # newest ordered first
    assert numbers({"status": "cancelled"}) == ["A-SO-C"]
    assert numbers({"open": "1"}) == ["A-SO-B", "A-SO-A"]
    assert numbers({"product_line": make_product_line("CRANE").pk}) == ["A-SO-A"]
    assert numbers({"q": "so-d"}) == ["A-SO-D"]
    assert numbers({"q": "港口"}) == ["A-SO-B", "A-SO-C", "A-SO-D", "A-SO-A"]
    assert numbers({"q": "查理"}) == []
    today = timezone.localdate()
    window = {"date_from": (today - dt.timedelta(days=45)).isoformat(), "date_to": today.isoformat()}
    assert numbers(window) == ["A-SO-B", "A-SO-C"]
    assert numbers({"sort": "amount"}) == ["A-SO-D", "A-SO-C", "A-SO-B", "A-SO-A"]
    assert numbers({"sort": "-amount"}) == ["A-SO-A", "A-SO-B", "A-SO-C", "A-SO-D"]
    # Bad input is shown on the form and ignored, never a 500.
    body = _body(c.get(url, {"date_from": "yesterday", "status": "nope", "sort": "bogus"}))
    assert "invalid-feedback" in body and "A-SO-A" in body
    body = _body(c.get(url, {"date_from": today.isoformat(), "date_to": "2000-01-01"}))
    assert "invalid-feedback" in body


def test_the_order_list_pages_with_a_capped_count(personas, client_for):
    customer = make_customer(personas.alice)
    product = make_product()
    for i in range(30):
        make_order(customer, number=f"BULK-{i:02d}", lines=[(product, 1, "10")])
    body = _body(client_for(personas.alice).get(reverse("order_list")))
    assert 'data-total="30"' in body and 'rel="next"' in body
    body = _body(client_for(personas.alice).get(reverse("order_list"), {"page": "2"}))
    assert body.count("data-order-card=") == 5


def test_the_invoice_list_finds_overdue_and_unpaid(world, personas, client_for):
    c = client_for(personas.bob)

    def invoices(params):
        return sorted(set(re.findall(r"A-INV-\d", _body(c.get(reverse("invoice_list"), params)))))

    assert invoices({}) == ["A-INV-1", "A-INV-2", "A-INV-3", "A-INV-4"]
    assert invoices({"overdue": "1"}) == ["A-INV-1"]  # INV-4 is overpaid, INV-2 not due yet
    assert invoices({"unpaid": "1"}) == ["A-INV-1", "A-INV-2"]
    assert invoices({"status": "cancelled"}) == ["A-INV-3"]


def test_shipments_contracts_and_payments_search(world, personas, client_for):
    c = client_for(personas.alice)
    assert "A-CR-0001" not in _body(c.get(reverse("shipment_list")))  # serials are on the order page
    body = _body(c.get(reverse("shipment_list"), {"q": "A-SO-D"}))
    assert "A-SO-D" in body and "A-SO-A" not in body
    body = _body(c.get(reverse("contract_list"), {"q": "门机"}))
    assert "A-HT-2025-001" in body
    body = _body(c.get(reverse("payment_list"), {"q": "A-INV-4"}))
    assert "A-PAY-3" in body and "A-PAY-1" not in body


# --- the order page ---------------------------------------------------------------------------


def test_the_timeline_shows_events_in_time_order_then_the_steps_ahead(world, personas, client_for):
    order = world["a"]["a"]
    # The MES reports "produced" late: it is recorded after "shipped" but happened before it.
    order.status_events.create(
        status=OrderStatus.PRODUCED, at=at_day(timezone.localdate() - dt.timedelta(days=65)), source="mes"
    )
    body = _body(client_for(personas.bob).get(reverse("order_detail", args=[order.pk])))
    assert _steps(body) == [
        ("confirmed", "done"),
        ("scheduled", "done"),
        ("in_production", "done"),
        ("produced", "done"),
        ("shipped", "current"),
        ("delivered", "future"),
        ("installed", "future"),
        ("accepted", "future"),
    ]
    assert "MES" in body and "ERP" in body  # which system said so


def test_a_cancelled_order_has_no_steps_ahead(world, personas, client_for):
    body = _body(client_for(personas.alice).get(reverse("order_detail", args=[world["a"]["c"].pk])))
    assert _steps(body) == [("confirmed", "done"), ("cancelled", "cancelled")]


def test_the_order_page_shows_lines_shipments_serials_invoices_payments_and_history(
    world, personas, client_for
):
    order = world["a"]["a"]
    order_status_add(
        actor=personas.alice, order=order, status=OrderStatus.DELIVERED, at=timezone.now(), note="客户签收"
    )
    personas.bob.language = "en"
    personas.bob.save()
    body = _body(client_for(personas.bob).get(reverse("order_detail", args=[order.pk])))
    assert "门座式起重机 MQ2535" in body and 'data-line="1"' in body
    assert "data-serial>A-CR-0001<" in body
    assert 'data-invoice="A-INV-1"' in body and "data-overdue" in body
    assert 'data-payment="A-PAY-1"' in body and 'data-payment="A-PAY-2"' in body
    assert 'data-payment="A-PAY-4"' not in body  # on account: not this order's
    assert 'data-total="shipped">¥1,000,000.00' in body and 'data-total="open">¥1,000,000.00' in body
    assert 'data-total="paid">¥500,000.25' in body
    assert "客户签收" in body and "Alice" in body
    # History: the service's save is a simple_history row showing the status change.
    changes = re.findall(r"<div data-change>(.*?)</div>", body, re.S)
    assert any(re.search(r"^Status: .*</span> → Delivered$", ch) for ch in changes), changes


def test_the_order_page_renders_sections_other_modules_register(world, personas, client_for):
    from steelyard.core.registry import Section, registry

    seen = []

    def context(request, order):
        seen.append((request.user, order.pk))
        return {"orders": [order], "customer": order.customer}

    registry.add_section(
        "orders.order", Section("test_share", "Share", "orders/_section_orders.html", context)
    )
    try:
        body = _body(client_for(personas.alice).get(reverse("order_detail", args=[world["a"]["a"].pk])))
    finally:
        registry.sections["orders.order"].pop("test_share")
    section = body[body.index('data-section="test_share"') :]
    assert f'data-order="{world["a"]["a"].pk}"' in section
    assert seen == [(personas.alice, world["a"]["a"].pk)]


# --- the customer 360 page ------------------------------------------------------------------------

SECTIONS = ("balances", "orders", "contracts", "shipments", "invoices", "payments")


def test_the_customer_page_carries_the_order_to_cash_sections(world, personas, client_for):
    url = reverse("customer_detail", args=[world["own"].pk])
    for user in (personas.alice, personas.bob, personas.dora, personas.admin):
        body = _body(client_for(user).get(url))
        for key in SECTIONS:
            assert f'data-section="{key}"' in body, (user, key)
        assert 'data-balance="overdue"' in body and "499,999.75" in body
        assert 'data-balance="outstanding">¥649,999.75' in body
        assert "A-SO-B" in body and "C-SO-B" not in body
        assert f'href="/orders/?customer={world["own"].pk}"' in body
    assert client_for(personas.charlie).get(url).status_code == 404
    # Charlie's own customer shows his records only.
    body = _body(client_for(personas.charlie).get(reverse("customer_detail", args=[world["other"].pk])))
    assert "C-SO-B" in body and "A-SO-B" not in body


def test_a_customer_without_orders_shows_only_an_empty_orders_section(personas, client_for):
    prospect = make_customer(personas.alice, name="新潜在客户")
    body = _body(client_for(personas.alice).get(reverse("customer_detail", args=[prospect.pk])))
    assert 'data-section="orders"' in body
    for key in ("balances", "contracts", "shipments", "invoices", "payments"):
        assert f'data-section="{key}"' not in body


# --- search, menu, home -----------------------------------------------------------------------------


def test_global_search_finds_orders_and_contracts_in_scope(world, personas, client_for):
    body = _body(client_for(personas.alice).get(reverse("search"), {"q": "SO-A"}))
    assert reverse("order_detail", args=[world["a"]["a"].pk]) in body
    assert reverse("order_detail", args=[world["c"]["a"].pk]) not in body
    body = _body(client_for(personas.charlie).get(reverse("search"), {"q": "HT-2025"}))
    assert reverse("contract_detail", args=[world["c"]["contract"].pk]) in body
    assert reverse("contract_detail", args=[world["a"]["contract"].pk]) not in body


def test_the_menu_offers_the_order_to_cash_lists(personas, client_for):
    body = _body(client_for(personas.alice).get(reverse("order_list")))
    for key in (
        "orders.orders",
        "orders.contracts",
        "orders.shipments",
        "orders.invoices",
        "orders.payments",
    ):
        assert f'data-menu="{key}"' in body
    assert re.search(r'class="nav-link active" href="/orders/" data-menu="orders.orders"', body)


def test_the_home_widget_lists_recent_status_changes_of_my_customers(world, personas, client_for):
    fresh = make_order(world["own"], number="A-SO-NEW", lines=[(make_product(), 1, "5")])
    make_order(world["other"], number="C-SO-NEW", lines=[(make_product(), 1, "5")])
    home = _body(client_for(personas.alice).get(reverse("home")))
    assert 'data-widget="orders-recent-status"' in home and f'hx-get="{reverse("order_home_widget")}"' in home
    body = _body(client_for(personas.alice).get(reverse("order_home_widget"), HTTP_HX_REQUEST="true"))
    assert "A-SO-NEW" in body and "C-SO-NEW" not in body
    assert reverse("order_detail", args=[fresh.pk]) in body
    assert "A-SO-NEW" in _body(client_for(personas.bob).get(reverse("order_home_widget")))
    assert "A-SO-NEW" not in _body(client_for(personas.charlie).get(reverse("order_home_widget")))


# --- query counts ------------------------------------------------------------------------------------


def test_lists_render_in_bounded_queries(world, personas, client_for, django_assert_max_num_queries):
    product = make_product()
    for i in range(25):
        make_order(world["own"], number=f"Q-{i:02d}", lines=[(product, 1, "10")])
    c = client_for(personas.bob)
    for name in LISTS:
        c.get(reverse(name))
        with django_assert_max_num_queries(18):
            assert c.get(reverse(name), {"customer": world["own"].pk, "sort": "-number"}).status_code == 200


def test_the_order_page_renders_in_bounded_queries(
    world, personas, client_for, django_assert_max_num_queries
):
    order = world["a"]["a"]
    product = make_product()
    for i in range(5):
        add_event(order, OrderStatus.SHIPPED, at_day(timezone.localdate() - dt.timedelta(days=60 - i)))
    from steelyard.orders.tests._o2c import ship

    for _ in range(5):
        line = order.lines.create(
            line_no=order.lines.count() + 1, product=product, quantity=2, unit_price=1, amount=2
        )
        ship(order, [(line, 2, [f"S{line.pk}-1", f"S{line.pk}-2"])], on=timezone.localdate(), amount="2")
    c = client_for(personas.bob)
    url = reverse("order_detail", args=[order.pk])
    c.get(url)
    with django_assert_max_num_queries(30):
        assert c.get(url).status_code == 200


def test_the_customer_page_with_several_orders_renders_in_bounded_queries(
    world, personas, client_for, django_assert_max_num_queries
):
    product = make_product()
    for i in range(12):
        make_order(world["own"], number=f"MANY-{i:02d}", lines=[(product, 1, "10")])
    c = client_for(personas.bob)
    url = reverse("customer_detail", args=[world["own"].pk])
    c.get(url)
    with django_assert_max_num_queries(60):
        assert c.get(url).status_code == 200


def test_the_order_to_cash_sections_cost_a_fixed_number_of_queries(world, personas, rf):
    """Six sections: the shared scope (team + pools), the balances (its scope + one statement), five lists."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from steelyard.core.registry import registry

    product = make_product()
    for i in range(12):
        make_order(world["own"], number=f"MANY-{i:02d}", lines=[(product, 1, "10")])
    request = rf.get("/")
    request.user = personas.bob
    sections = [s for s in registry.sections_for("customers.customer", personas.bob) if s.key in SECTIONS]
    assert [s.key for s in sections] == [
        "balances",
        "orders",
        "contracts",
        "shipments",
        "invoices",
        "payments",
    ]
    with CaptureQueriesContext(connection) as ctx:
        for s in sections:
            assert not s.context(request, world["own"]).get("hidden")
    assert len(ctx.captured_queries) <= 11
