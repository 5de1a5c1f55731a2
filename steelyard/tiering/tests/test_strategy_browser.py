"""In Chromium: a rep reads what each tier entitles on a phone; a director edits a draft and activates it
after confirming; no CSP violation or console error on the way."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
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
from steelyard.tiering.models import MenuStatus, StrategyMenu
from steelyard.tiering.tests.strategy_testing import clear_menus, make_menu

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _menus():
    clear_menus()
    today = timezone.localdate()
    v1 = make_menu(
        1,
        {
            "key": {
                "max_discount_pct": 10,
                "approval_chain": ["sales_manager", "sales_director"],
                "pool_recycle_days": 120,
                "visit_every_days": 30,
                "entitlements": ["季度经营回顾", "备件优先供应"],
            },
            "": {"max_discount_pct": 3, "visit_every_days": 90},
        },
        name="差异化策略菜单",
        effective_from=today - dt.timedelta(days=30),
    )
    return v1


def test_a_rep_reads_the_entitlements_and_the_customer_section_on_a_phone(open_page, personas, screenshot):  # noqa: F811
    _menus()
    customer = make_customer(personas.alice, name="浦江起重机械有限公司", tier="key")
    page, watch = open_page(PHONE)
    page.goto("/accounts/login/?next=/tiers/strategy/entitlements/")
    sign_in(page, "alice", PASSWORD)
    expect(page).to_have_url(re.compile(r"/tiers/strategy/entitlements/$"))
    card = page.locator("[data-tier-card='key']")
    expect(card).to_be_visible()
    expect(card.locator("[data-field='max_discount_pct']")).to_have_text("10%")
    expect(card).to_contain_text("季度经营回顾")
    # Cards stack on a phone: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "strategy-entitlements-phone")
    page.goto(f"/customers/{customer.pk}/")
    section = page.locator("[data-section='tier-entitlements']")
    expect(section.locator("[data-entitlement='visit_every_days']")).to_contain_text("30")
    screenshot(page, "strategy-customer-section-phone")
    assert watch.problems == []


def test_a_director_edits_a_draft_and_activates_it_after_confirming(open_page, personas, screenshot):  # noqa: F811
    v1 = _menus()
    page, watch = open_page(DESKTOP)
    page.goto("/accounts/login/?next=/tiers/strategy/")
    sign_in(page, "dora", PASSWORD)
    page.click("a[href='/tiers/strategy/new/']")
    page.fill("#id_notes", "提高重点客户折扣")
    page.click("main form[method=post] button[type=submit]")
    page.wait_for_load_state("load")
    draft = StrategyMenu.objects.get(version=2)
    expect(page).to_have_url(re.compile(rf"/tiers/strategy/{draft.pk}/$"))
    key_rule = draft.rules.get(tier="key")
    page.click(f"[data-strategy-grid] a[href='/tiers/strategy/{draft.pk}/rules/{key_rule.pk}/']")
    page.fill("#id_max_discount_pct", "12")
    screenshot(page, "strategy-rule-form")
    page.click("main form[method=post] button[type=submit]")
    page.wait_for_load_state("load")
    expect(
        page.locator("[data-strategy-grid] td[data-tier='key'][data-line=''][data-field='max_discount_pct']")
    ).to_have_text("12%")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    screenshot(page, "strategy-draft-grid")
    page.click(f"a[href='/tiers/strategy/{draft.pk}/activate/']")
    expect(page.locator("[data-changes]")).to_contain_text("12%")
    screenshot(page, "strategy-activate")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("form[data-confirm] button[type=submit]")
    page.wait_for_load_state("load")
    draft.refresh_from_db()
    v1.refresh_from_db()
    assert draft.status == MenuStatus.ACTIVE and v1.status == MenuStatus.RETIRED
    expect(page.locator("[data-state]").first).to_have_attribute("data-state", "in_force")
    assert watch.problems == []
