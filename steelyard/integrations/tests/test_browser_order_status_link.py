"""On a phone: a rep opens a customer, reads an order's timeline, and the customer's signed page shows the same."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from steelyard.core.testing.personas import PASSWORD
from steelyard.core.tests.browser.conftest import (  # noqa: F401  (fixtures used by name)
    PHONE,
    _browser_settings,
    browser_type_launch_args,
    open_page,
    screenshot,
    sign_in,
)
from steelyard.customers.testing import make_customer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_rep_and_the_customer_see_the_same_timeline_on_a_phone(open_page, personas, screenshot):  # noqa: F811
    from steelyard.orders.tests._o2c import book

    customer = make_customer(personas.alice, name="上海振华港口机械有限公司", short_name="振华港机")
    order = book(customer)["a"]

    page, watch = open_page(PHONE)
    page.goto(f"/accounts/login/?next={customer.get_absolute_url()}")
    sign_in(page, "alice", PASSWORD)
    row = page.locator(f"[data-section='orders'] [data-order='{order.pk}'] a").first
    expect(row).to_be_visible()
    with page.expect_navigation(url=re.compile(rf"/orders/{order.pk}/$")):
        row.click()
    reached = page.locator(
        "[data-timeline] [data-step][data-state='done'], [data-timeline] [data-step][data-state='current']"
    )
    expect(reached.first).to_be_visible()
    rep_steps = [s.get_attribute("data-step") for s in reached.all()]
    assert rep_steps[-1] == order.status
    screenshot(page, "phone-rep-order-timeline")

    link = page.locator("[data-share-link] input[data-copy-source]").first.input_value()
    path = urlsplit(link).path
    assert path.startswith("/track/")
    assert watch.problems == []

    public, public_watch = open_page(PHONE)  # a fresh browser context: the customer is not signed in
    public.goto(path)
    expect(public.locator("[data-order-number]")).to_have_text(order.number)
    expect(public.locator("[data-current-status]")).to_have_attribute("data-current-status", order.status)
    customer_steps = [
        s.get_attribute("data-step") for s in public.locator("[data-timeline] [data-step]").all()
    ]
    assert customer_steps == rep_steps
    expect(public.locator("body")).not_to_contain_text("¥")  # no amounts on the customer's page
    screenshot(public, "phone-customer-status-page")
    assert public_watch.problems == []
