"""In a real Chromium: the tier analytics charts render (canvas) on a desktop and a phone, without CSP
violations, tooltips included, and a click on a bar opens the customers behind it."""

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
from steelyard.tiering.tests.analytics_world import build

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

URL = "/tiers/analytics/?as_of=2026-06-30&months=12"
CHARTS = ["share", "revenue-pie", "growth", "retention", "sankey", "runs", "visits"]


def _open(open_page, device, username="bob"):  # noqa: F811
    page, watch = open_page(device)
    page.goto(f"/accounts/login/?next={URL.replace('&', '%26').replace('?', '%3F')}")
    sign_in(page, username, PASSWORD)
    expect(page).to_have_url(re.compile(r"/tiers/analytics/"))
    for name in CHARTS:
        chart = page.locator(f"[data-chart='{name}']")
        expect(chart).to_have_attribute("data-ready", "1")
        expect(chart.locator("canvas")).to_have_count(1)
    return page, watch


def _hover_and_click_first_bar(page, chart_name):
    """Hover the first bar of ``chart_name`` (its tooltip must not break the CSP), then click it."""
    chart = page.locator(f"[data-chart='{chart_name}']")
    chart.scroll_into_view_if_needed()
    box = chart.bounding_box()
    point = page.evaluate(
        """(name) => {
            const el = document.querySelector(`[data-chart='${name}']`);
            const chart = window.echarts.getInstanceByDom(el);
            const bar = chart.getModel().getSeriesByIndex(0).getData().getItemLayout(0);
            return [bar.x + bar.width / 2, bar.y + bar.height / 2];
        }""",
        chart_name,
    )
    x, y = box["x"] + point[0], box["y"] + point[1]
    page.mouse.move(x, y)
    page.wait_for_timeout(300)
    page.mouse.click(x, y)


def test_charts_render_on_a_desktop_and_drill_down(open_page, personas, screenshot):  # noqa: F811
    build(personas)
    page, watch = _open(open_page, DESKTOP)
    expect(page.locator("[data-headline]")).to_contain_text("战略")
    expect(page.locator("[data-table='distribution']")).to_be_visible()
    screenshot(page, "tier-analytics-desktop")
    with page.expect_navigation(url=re.compile(r"/tiers/analytics/customers/\?.*metric=customers")):
        _hover_and_click_first_bar(page, "share")
    expect(page.locator("table[data-table='drilldown']")).to_contain_text("甲一战略客户有限公司")
    screenshot(page, "tier-analytics-drilldown-desktop")
    assert watch.problems == []


def test_charts_render_on_a_phone(open_page, personas, screenshot):  # noqa: F811
    build(personas)
    page, watch = _open(open_page, PHONE, username="alice")
    expect(page.locator("[data-cards='distribution']")).to_be_visible()
    expect(page.locator("[data-table='distribution']")).to_be_hidden()
    screenshot(page, "tier-analytics-phone")
    _hover_and_click_first_bar(page, "growth")
    page.wait_for_url(re.compile(r"/tiers/analytics/customers/\?.*metric=buyers_prev"))
    expect(page.locator(".list-group [data-customer]").first).to_be_visible()
    screenshot(page, "tier-analytics-drilldown-phone")
    assert watch.problems == []
