"""On a phone: a rep reads why a customer is in its tier, asks for an override, and sees it waiting."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
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
from steelyard.tiering.models import OverrideStatus, TierOverride
from steelyard.tiering.tests.customer_tiers_world import make_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_rep_asks_for_an_override_on_a_phone(open_page, personas, screenshot):  # noqa: F811
    world = make_world(personas)
    page, watch = open_page(PHONE)
    page.goto("/accounts/login/?next=/tiers/")
    sign_in(page, "alice", PASSWORD)
    expect(page).to_have_url(re.compile(r"/tiers/$"))
    expect(page.locator("[data-tier-count='regular']")).to_contain_text("2")
    expect(page.locator("[data-near-threshold]")).to_contain_text("爱丽丝重工")
    screenshot(page, "phone-tiers")

    page.goto(world["own"].get_absolute_url())
    section = page.locator("[data-section='tier']").first
    expect(section.locator("[data-explanation]")).to_contain_text("12/30")
    section.locator("[data-request-override]").click()
    page.wait_for_load_state("load")
    page.select_option("#id_tier", "key")
    page.fill("#id_reason", "集团框架协议谈判中")
    page.fill("#id_expires_on", (timezone.localdate() + dt.timedelta(days=90)).isoformat())
    page.click("[data-submit-override]")
    page.wait_for_load_state("load")
    expect(page.locator("[data-override-pending]")).to_be_visible()
    screenshot(page, "phone-tier-override-pending")
    assert TierOverride.objects.get().status == OverrideStatus.PENDING
    assert watch.problems == []
