"""In a browser: the administrator edits the global model — adds a band, adds a tier, previews the change
(htmx, no reload), saves — under the strict CSP, on a desktop and on a phone."""

from __future__ import annotations

import re
from decimal import Decimal

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
from steelyard.tiering.models import Factor, Tier
from steelyard.tiering.tests.models_admin_support import default_model, ensure_defaults, factor_index

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_edits_previews_and_saves_the_model(open_page, personas, screenshot):  # noqa: F811
    ensure_defaults()
    personas.admin.language = "en"
    personas.admin.save(update_fields=["language"])
    model = default_model()
    for i in range(3):
        make_customer(personas.alice, name=f"浏览器客户{i}有限公司")
    revenue = factor_index(model, "revenue_12m")
    url = f"/tiers/models/{model.pk}/"

    page, watch = open_page(DESKTOP, locale="en-US")
    page.goto(f"/accounts/login/?next={url}")
    sign_in(page, "admin", PASSWORD)
    expect(page).to_have_url(re.compile(rf"{url}$"))

    # A band more for revenue, through the editor's script.
    row = page.locator("[data-factor-row]").nth(revenue)
    bands = row.locator("[data-band-row]")
    count = bands.count()
    row.locator("[data-band-add]").click()
    expect(bands).to_have_count(count + 1)
    bands.last.locator("input").first.fill("100000000")
    bands.last.locator("input").last.fill("1")
    row.locator("input[name$='-weight']").fill("40")

    # A new tier at the top; everyone else moves down a rank.
    ranks = page.locator("#tiers-rows input[name$='-rank']")
    for i in range(ranks.count()):
        ranks.nth(i).fill(str(i + 2))
    page.locator("[data-formset-add='tiers']").click()
    new = page.locator("#tiers-rows [data-row]").last
    new.locator("input[name$='-code']").fill("vip")
    new.locator("input[name$='-name']").fill("至尊")
    new.locator("input[name$='-rank']").fill("1")
    new.locator("input[name$='-min_score']").fill("95")

    # Preview: the panel fills in place, nothing is saved.
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#tier-preview")).to_contain_text("With these settings")
    assert Tier.objects.filter(model=model).count() == 4
    screenshot(page, "tiering-model-editor-preview")

    page.get_by_role("button", name="Save").click()
    expect(page.locator(".app-messages, [role=alert], .alert").first).to_be_visible()
    assert list(Tier.objects.filter(model=model).order_by("rank").values_list("code", flat=True))[0] == "vip"
    saved = Factor.objects.get(model=model, code="revenue_12m")
    assert saved.weight == Decimal("40") and saved.bands[-1] == [100000000, 1]
    assert watch.problems == []


def test_editor_on_a_phone(open_page, personas, screenshot):  # noqa: F811
    ensure_defaults()
    model = default_model()
    page, watch = open_page(PHONE)
    page.goto(f"/accounts/login/?next=/tiers/models/{model.pk}/")
    sign_in(page, "admin", PASSWORD)
    expect(page.locator("#tier-model-form")).to_be_visible()
    # No sideways scrolling of the page itself.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1
    screenshot(page, "tiering-model-editor-phone")
    assert watch.problems == []
