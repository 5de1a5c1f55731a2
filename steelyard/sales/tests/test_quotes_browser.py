"""In a browser: on a desktop the rep gives a discount above the tier's limit, sees who must approve it,
saves and submits it for approval; on a phone the rep finds the quote in the list and reads it; the
framework agreement page draws its chart. No CSP violation or script error anywhere."""

from __future__ import annotations

import datetime as dt
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
from steelyard.orders.testing import make_order
from steelyard.sales.models import Quote, QuoteStatus
from steelyard.sales.services import agreements as agreement_svc
from steelyard.sales.services import quotes as svc
from steelyard.sales.tests.quotes_world import make_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_rep_sets_a_discount_above_the_limit_sees_the_hint_and_submits(open_page, personas, screenshot):  # noqa: F811
    world = make_world(personas, credit_limit="3000000")
    quote = svc.quote_create(actor=personas.alice, opportunity=world.opportunity)
    page, watch = open_page(DESKTOP)
    page.goto(f"/accounts/login/?next=/sales/quotes/{quote.pk}/")
    sign_in(page, "alice", PASSWORD)
    expect(page).to_have_url(re.compile(rf"/sales/quotes/{quote.pk}/$"))
    expect(page.locator("[data-line-over]")).to_have_count(0)

    page.locator("[data-add-line]").click()  # an empty row to fill in; left empty it is ignored
    expect(page.locator("tr[data-line]")).to_have_count(3)
    expect(page.locator("#line-2-product")).to_be_visible()
    page.fill("#line-0-discount_pct", "15")
    page.press("#line-0-discount_pct", "Tab")  # the change previews the prices (htmx)
    expect(page.locator("[data-line-over]")).to_be_visible()
    expect(page.locator("tr[data-line]")).to_have_count(3)  # the empty row stays until saved
    expect(page.locator("[data-over-limit] [data-approval-hint]")).to_contain_text("→")
    expect(page.locator("[data-unsaved]")).to_be_visible()
    expect(page.locator("#quote-total")).to_have_text("¥2,200,000.00")  # the header's total follows
    assert Quote.objects.get(pk=quote.pk).discount_pct == 0  # a preview saves nothing

    page.locator("[data-save-lines]").click()
    expect(page.locator("[data-saved]")).to_be_visible()
    expect(page.locator("tr[data-line]")).to_have_count(2)
    expect(page.locator("[data-line-over]")).to_be_visible()
    assert Quote.objects.get(pk=quote.pk).discount_pct == 15
    screenshot(page, "desktop-quote-discount-above-limit")

    page.locator("[data-action='submit']").click()
    expect(page.locator(".quote-action[open] [data-approval-hint]")).to_be_visible()
    page.fill("#id_reason", "竞争对手报价低 12%，客户为战略客户")
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.locator("[data-confirm-submit]").click()
    expect(page.locator("h1 [data-status]")).to_have_attribute("data-status", "pending")
    expect(page.locator("[data-pending]")).to_be_visible()
    expect(page.locator("[data-approval-link]")).to_be_visible()
    screenshot(page, "desktop-quote-pending-approval")
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.PENDING and quote.approval.reason.startswith("竞争对手")
    assert watch.problems == []


def test_a_rep_reads_a_quote_on_a_phone(open_page, personas, screenshot):  # noqa: F811
    world = make_world(personas)
    quote = svc.quote_create(actor=personas.alice, opportunity=world.opportunity)
    svc.quote_submit(actor=personas.alice, quote=quote)
    page, watch = open_page(PHONE)
    page.goto("/accounts/login/?next=/sales/quotes/")
    sign_in(page, "alice", PASSWORD)
    card = page.locator(f"[data-quote-card='{quote.pk}']")
    expect(card).to_be_visible()
    expect(page.locator("table.table")).to_be_hidden()
    screenshot(page, "phone-quote-list")
    with page.expect_navigation(url=re.compile(rf"/sales/quotes/{quote.pk}/$")):
        card.click()
    expect(page.locator("[data-line-card]")).to_have_count(2)
    expect(page.locator("[data-action='send']")).to_be_visible()
    screenshot(page, "phone-quote-detail")
    assert watch.problems == []


def test_the_agreement_page_draws_planned_against_ordered(open_page, personas, screenshot):  # noqa: F811
    world = make_world(personas)
    agreement = agreement_svc.agreement_create(
        actor=personas.alice,
        customer=world.customer,
        title="港口设备年度框架协议",
        period="quarter",
        starts_on=dt.date(2025, 1, 1),
        ends_on=dt.date(2025, 12, 31),
    )
    agreement_svc.agreement_lines_set(
        actor=personas.alice,
        agreement=agreement,
        lines=[
            {"product": world.crane.pk, "period_start": f"2025-{m:02d}-01", "planned_quantity": q}
            for m, q in ((1, 4), (4, 5), (7, 5), (10, 6))
        ]
        + [{"product": world.hoist.pk, "period_start": "2025-04-01", "planned_quantity": "10"}],
    )
    make_order(world.customer, lines=[(world.crane, 3, "1000000")], ordered_on=dt.date(2025, 2, 10))
    make_order(
        world.customer,
        lines=[(world.crane, 6, "1000000"), (world.hoist, 8, "500000")],
        ordered_on=dt.date(2025, 5, 10),
    )
    page, watch = open_page(DESKTOP)
    page.goto(f"/accounts/login/?next=/sales/agreements/{agreement.pk}/")
    sign_in(page, "alice", PASSWORD)
    expect(page.locator("[data-agreement-chart]")).to_have_attribute("data-ready", "1")
    expect(page.locator("[data-cell='MQ2535|2025-04-01']")).to_have_attribute("data-actual", "6")
    screenshot(page, "desktop-agreement-plan-vs-actual")
    assert watch.problems == []
