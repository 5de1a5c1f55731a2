"""In a browser: an administrator registers the ERP, issues its token (shown once, copyable), no CSP errors."""

from __future__ import annotations

import pytest
from django.test import Client
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
from steelyard.integrations.models import ExternalSystem, InboundBatch, InboundResult

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("device", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_an_admin_registers_the_erp_and_issues_its_token(open_page, personas, screenshot, device):  # noqa: F811
    admin = personas.admin
    admin.language = "en"
    admin.save()
    page, watch = open_page(device, locale="en-US")
    page.goto("/integrations/")
    sign_in(page, admin.username, PASSWORD)
    expect(page.get_by_text("No systems yet — register your ERP")).to_be_visible()
    page.locator("[data-empty=systems] a.btn").click()

    page.fill("#id_code", "erp")
    page.fill("#id_name", "Kingdee ERP")
    page.check("input[name=entities][value=order]")
    page.check("input[name=entities][value=payment]")
    page.click("#system-form button[type=submit]")
    expect(page.locator("h1")).to_contain_text("Kingdee ERP")
    system = ExternalSystem.objects.get(code="erp")
    assert system.user.username == "sys-erp" and system.entities == ["order", "payment"]

    page.fill("#id_name", "ERP production")
    page.click("#issue-token button[type=submit]")
    token_input = page.locator("#new-token")
    expect(token_input).to_be_visible()
    plain = token_input.input_value()
    assert plain.startswith("sy_")
    page.click("[data-copy-target]")
    expect(page.locator("[data-copy-target]")).to_have_text("Copied")
    name = "phone" if device is PHONE else "desktop"
    screenshot(page, f"integrations-console-system-{name}")

    me = Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plain}").json()
    assert me["username"] == "sys-erp"

    batch = InboundBatch.objects.create(system=system, entity="order", total=2, created=1, rejected=1)
    InboundResult.objects.create(
        batch=batch,
        position=2,
        external_id="SO-2",
        outcome="rejected",
        reasons=[{"field": "customer", "message": "Unknown customer “C-9”."}],
    )
    page.goto("/integrations/")
    expect(page.locator("[data-system=erp]")).to_contain_text("✕1")
    screenshot(page, f"integrations-console-home-{name}")
    page.goto(f"/integrations/batches/{batch.pk}/?outcome=rejected")
    expect(page.locator("[data-reasons]")).to_contain_text("customer: Unknown customer “C-9”.")
    screenshot(page, f"integrations-console-batch-{name}")
    assert watch.problems == []
