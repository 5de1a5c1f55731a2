"""In a browser: a rep browses the catalogue on a phone; an administrator retires a product on a desktop."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from steelyard.catalog.models import Product
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

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_rep_finds_a_machine_and_its_spare_parts_on_a_phone(open_page, personas, catalog, screenshot):  # noqa: F811
    page, watch = open_page(PHONE)
    page.goto("/accounts/login/?next=/catalog/")
    sign_in(page, "alice", PASSWORD)
    expect(page).to_have_url(re.compile(r"/catalog/$"))
    page.fill("#id_q", "QY50")
    page.locator("form.list-toolbar button[type=submit]").click()
    cards = page.locator(".list-group.d-md-none a")
    expect(cards).to_have_count(2)
    with page.expect_navigation(url=re.compile(rf"/catalog/products/{catalog['qy50'].pk}/$")):
        cards.filter(has_text="QY50K 汽车起重机").click()
    expect(page.locator("[data-price]")).to_contain_text("1,850,000.00")
    expect(page.locator("#spare-parts [data-product='SP-60210']")).to_be_visible()
    expect(page.locator("#options [data-product='QY50K-OPT-JIB']")).to_be_visible()
    # A rep sees no edit or deactivate buttons.
    expect(page.get_by_role("button", name="停用")).to_have_count(0)
    screenshot(page, "catalog-machine-phone")
    assert watch.problems == []


def test_an_admin_retires_a_product_after_confirming(open_page, personas, catalog):  # noqa: F811
    page, watch = open_page(DESKTOP)
    page.goto(f"/accounts/login/?next=/catalog/products/{catalog['tc'].pk}/")
    sign_in(page, "admin", PASSWORD)
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="停用").click()
    assert Product.objects.get(pk=catalog["tc"].pk).is_active
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.get_by_role("button", name="停用").click()
    expect(page.locator("form[action$='/activate/'] button")).to_be_visible()
    assert not Product.objects.get(pk=catalog["tc"].pk).is_active
    assert watch.problems == []
