"""On a phone: a rep opens an order from the list, reads its timeline, and records the delivery."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from steelyard.core.testing.personas import PASSWORD
from steelyard.core.tests.browser.conftest import (  # noqa: F401  (fixtures used by name)
    DESKTOP,
    PHONE,
    _browser_settings,
    browser_type_launch_args,
    open_page,
    screenshot,
    sign_in,
)
from steelyard.customers.testing import make_customer
from steelyard.orders.models import OrderStatus, SalesOrder

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _history(personas):  # type: ignore[no-untyped-def]
    from steelyard.orders.tests._o2c import book

    customer = make_customer(personas.alice, name="上海振华港口机械有限公司", short_name="振华港机")
    records = book(customer)
    SalesOrder.objects.filter(pk=records["a"].pk).update(notes="两台门机，分批交付")
    return customer, records


def test_a_rep_reads_the_timeline_and_records_the_delivery_on_a_phone(open_page, personas, screenshot):  # noqa: F811
    customer, records = _history(personas)
    order = records["a"]
    page, watch = open_page(PHONE)
    page.goto("/accounts/login/?next=/orders/")
    sign_in(page, "alice", PASSWORD)
    expect(page).to_have_url(re.compile(r"/orders/$"))
    card = page.locator(f"[data-order-card='{order.pk}']")
    expect(card).to_be_visible()  # cards, not the wide table, on a phone
    expect(page.locator("table.table")).to_be_hidden()
    screenshot(page, "phone-order-list")
    with page.expect_navigation(url=re.compile(rf"/orders/{order.pk}/$")):
        card.click()
    steps = page.locator("[data-timeline] [data-step]")
    expect(steps).to_have_count(7)
    expect(page.locator("[data-step='shipped']")).to_have_attribute("data-state", "current")
    expect(page.locator("[data-step='delivered']")).to_have_attribute("data-state", "future")
    expect(page.locator("[data-serial]").first).to_have_text("CR-0001")
    screenshot(page, "phone-order-detail")

    page.locator(".o2c-record summary").click()
    page.fill("#id_note", "王经理签收，外观完好")
    page.locator(".o2c-status-form button[type=submit]").click()
    expect(page.locator("[data-step='delivered']")).to_have_attribute("data-state", "current")
    expect(page.locator("#order-status-badge")).to_have_attribute("data-status", "delivered")
    expect(page.locator("[data-timeline]")).to_contain_text("王经理签收")
    screenshot(page, "phone-order-delivered")
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED

    page.goto("/")
    expect(page.locator(f"[data-widget='orders-recent-status'] [data-order='{order.pk}']")).to_be_visible()

    page.goto(customer.get_absolute_url() + "#balances")
    expect(page.locator("[data-section='balances'] [data-balance='overdue']")).to_contain_text("499,999.75")
    screenshot(page, "phone-customer-orders")
    assert watch.problems == []


def test_the_order_page_on_a_desktop(open_page, personas, screenshot):  # noqa: F811
    _customer, records = _history(personas)
    page, watch = open_page(DESKTOP)
    page.goto(f"/accounts/login/?next=/orders/{records['a'].pk}/")
    sign_in(page, "bob", PASSWORD)
    expect(page.locator("[data-step='shipped']")).to_have_attribute("data-state", "current")
    screenshot(page, "desktop-order-detail")
    page.goto("/orders/invoices/?overdue=1")
    expect(page.locator("[data-overdue]")).to_have_count(1)
    screenshot(page, "desktop-invoices-overdue")
    assert watch.problems == []
