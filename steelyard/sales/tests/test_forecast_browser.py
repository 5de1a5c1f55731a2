"""In a real Chromium: the forecast chart renders without CSP violations, units open and close (deeper rows
load on demand), and a manager sets his own figure for a rep in the adjust dialog — desktop and phone."""

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
from steelyard.sales.models import ForecastAdjustment
from steelyard.sales.testing import make_opportunity
from steelyard.sales.tests.test_forecast_accuracy import recent  # noqa: F401  (fixture)
from steelyard.sales.tests.test_forecast_calibration import history  # noqa: F401  (fixture)
from steelyard.sales.tests.test_forecast_world import build

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

URL = "/sales/forecast/"


def _open(open_page, device, username):  # noqa: F811
    page, watch = open_page(device)
    page.goto(f"/accounts/login/?next={URL}")
    sign_in(page, username, PASSWORD)
    expect(page).to_have_url(re.compile(r"/sales/forecast/"))
    chart = page.locator("[data-chart='forecast']")
    expect(chart).to_have_attribute("data-ready", "1")
    expect(chart.locator("canvas")).to_have_count(1)
    return page, watch


def test_bob_adjusts_alice_on_a_desktop(personas, open_page, screenshot):  # noqa: F811
    world = build(personas)
    page, watch = _open(open_page, DESKTOP, "bob")
    alice_row = page.locator(f"tr[data-node='p{personas.team_a.pk}-{personas.alice.pk}']")
    expect(alice_row).to_be_visible()
    # Collapse and reopen the team.
    toggle = page.locator(f"[data-toggle-node='u{personas.team_a.pk}']")
    toggle.click()
    expect(alice_row).to_be_hidden()
    toggle.click()
    expect(alice_row).to_be_visible()
    screenshot(page, "forecast-desktop-bob")
    # The pencil for next month opens the dialog with the form.
    month = world["m1"].strftime("%Y-%m")
    alice_row.locator(f"a[data-adjust][href*='month={month}']").click()
    dialog = page.locator("#fc-adjust")
    expect(dialog.locator("form[data-adjust-form]")).to_be_visible()
    expect(dialog.locator("[data-system]")).to_have_text("¥1,000,000.00")
    screenshot(page, "forecast-desktop-adjust-dialog")
    dialog.locator("input[name='amount']").fill("650000")
    dialog.locator("input[name='note']").fill("客户预算推迟")
    dialog.locator("button[type='submit']").click()
    expect(page.locator(".fc-adjusted-set").first).to_be_visible()
    adj = ForecastAdjustment.objects.get()
    assert (adj.subject_user_id, str(adj.amount), adj.month) == (personas.alice.pk, "650000.00", world["m1"])
    expect(alice_row.locator(".fc-adjusted-set").first).to_contain_text("¥650,000")
    screenshot(page, "forecast-desktop-adjusted")
    assert watch.problems == []


def test_rows_load_on_demand_on_a_phone(personas, open_page, screenshot):  # noqa: F811
    world = build(personas)
    # dora's own deal gives East China two rows below it (Shanghai and her), so it starts closed
    make_opportunity(personas.dora, line=world["line"], stage="proposal", amount="70000", close=world["m1"])
    page, watch = _open(open_page, PHONE, "admin")
    east = f"u{personas.east.pk}"
    shanghai = page.locator(f"tr[data-node='u{personas.shanghai.pk}']")
    team = page.locator(f"tr[data-node='u{personas.team_a.pk}']")
    # North China → Beijing (a chain of single units) opens at once; East China has two rows below it.
    expect(page.locator(f"tr[data-node='u{personas.beijing.pk}']")).to_be_visible()
    expect(shanghai).to_have_count(0)
    page.locator(f"[data-toggle-node='{east}']").click()
    expect(shanghai).to_be_visible()
    assert shanghai.get_attribute("data-ancestors").split() == [f"u{personas.group.pk}", east]
    page.locator(f"[data-toggle-node='u{personas.shanghai.pk}']").click()
    expect(team).to_be_visible()
    page.locator(f"[data-toggle-node='{east}']").click()  # closing East hides everything below it
    expect(shanghai).to_be_hidden()
    expect(team).to_be_hidden()
    page.locator(f"[data-toggle-node='{east}']").click()  # reopening shows its own rows, loaded once
    expect(shanghai).to_be_visible()
    expect(team).to_be_hidden()
    assert shanghai.count() == 1
    screenshot(page, "forecast-phone-admin")
    assert watch.problems == []


@pytest.mark.parametrize("path", ["accuracy/", "calibration/", "snapshots/", "adjustments/"])
def test_the_other_pages_render_cleanly(personas, open_page, screenshot, path):  # noqa: F811
    build(personas)
    page, watch = open_page(DESKTOP)
    page.goto(f"/accounts/login/?next={URL}{path}")
    sign_in(page, "dora", PASSWORD)
    expect(page).to_have_url(re.compile(path))
    screenshot(page, f"forecast-{path.strip('/')}-desktop")
    assert watch.problems == []


def test_accuracy_calibration_and_a_snapshot_with_figures(personas, recent, history, open_page, screenshot):  # noqa: F811
    from steelyard.sales.services.forecast import forecast_snapshot_take

    snap = forecast_snapshot_take(weekly=False)
    page, watch = open_page(DESKTOP)
    page.goto("/accounts/login/?next=/sales/forecast/accuracy/")
    sign_in(page, "bob", PASSWORD)
    chart = page.locator("[data-chart='accuracy']")
    expect(chart).to_have_attribute("data-ready", "1")
    expect(page.locator("table[data-table='accuracy']")).to_contain_text("%")
    screenshot(page, "forecast-accuracy-figures")
    page.goto(f"/sales/forecast/calibration/?product_line={history['line'].pk}&closed=0")
    expect(page.locator("[data-chart='calibration']")).to_have_attribute("data-ready", "1")
    expect(page.locator("tr[data-stage='qualify'] [data-recalibrated]")).to_have_text(
        "40.0%"
    )  # alice's five, all time
    screenshot(page, "forecast-calibration-figures")
    page.goto(f"/sales/forecast/snapshots/{snap.pk}/")
    expect(page.locator("table[data-table='movement']")).to_be_visible()
    screenshot(page, "forecast-snapshot-detail")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/sales/forecast/accuracy/")
    expect(page.locator("[data-chart='accuracy']")).to_have_attribute("data-ready", "1")
    screenshot(page, "forecast-accuracy-phone")
    assert watch.problems == []
