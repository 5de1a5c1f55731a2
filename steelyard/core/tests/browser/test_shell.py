"""The shell in a real browser: phone and desktop, Chinese by default, English on request, CSP clean."""

from __future__ import annotations

import re

import pytest
from django.utils import translation
from playwright.sync_api import expect

from steelyard.core.testing.personas import PASSWORD

from .conftest import DESKTOP, PHONE, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _zh(msgid: str) -> str:
    """The Chinese for ``msgid`` (the msgid itself until the catalogue is compiled)."""
    with translation.override("zh-hans"):
        return translation.gettext(msgid)


def test_it_signs_in_on_a_phone_opens_the_menu_and_switches_to_english(open_page, personas, screenshot):
    page, watch = open_page(PHONE, locale="zh-CN")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("form.login-form #id_username")).to_be_visible()
    sign_in_label = _zh("Sign in")
    if sign_in_label != "Sign in":
        assert sign_in_label == "登录"
    expect(page.locator("form.login-form button[type=submit]")).to_have_text(sign_in_label)
    screenshot(page, "phone-login-zh")

    sign_in(page, "alice", PASSWORD)
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator(".app-bottomnav")).to_be_visible()
    expect(page.locator(".app-sidebar")).to_be_hidden()

    page.click("#menuToggle")
    menu = page.locator("#mobileMenu")
    expect(menu).to_have_class(re.compile(r"\bshow\b"))
    expect(menu.locator(".app-menu a[href='/inbox/']")).to_be_visible()
    screenshot(page, "phone-menu-zh")
    menu.locator("[data-bs-dismiss=offcanvas]").click()
    expect(menu).not_to_have_class(re.compile(r"\bshow\b"))
    expect(page.locator(".offcanvas-backdrop")).to_have_count(0)

    page.click("#userMenu")
    english = page.locator(".app-user-menu button[data-lang=en]")
    expect(english).to_be_visible()
    screenshot(page, "phone-usermenu-zh")
    with page.expect_navigation():
        english.click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator(".app-bottomnav")).to_contain_text("Inbox")
    expect(page.locator("h2.section-title")).to_have_text("Quick links")
    personas.alice.refresh_from_db()
    assert personas.alice.language == "en"
    page.wait_for_load_state("networkidle")
    screenshot(page, "phone-home-en")
    assert watch.problems == []


def test_it_shows_the_sidebar_and_searches_on_a_desktop(open_page, personas, screenshot):
    from steelyard.core.registry import registry

    page, watch = open_page(DESKTOP, locale="zh-CN")
    page.goto("/accounts/login/")
    sign_in(page, "admin", PASSWORD)
    sidebar = page.locator("nav.app-sidebar")
    expect(sidebar).to_be_visible()
    expect(page.locator(".app-bottomnav")).to_be_hidden()
    expect(page.locator(".quick-links")).to_be_visible()
    screenshot(page, "desktop-home-zh")

    page.fill("#globalSearch", "alice")
    with page.expect_navigation():
        page.press("#globalSearch", "Enter")
    expect(page).to_have_url(re.compile(r"/search/\?q=alice$"))
    if registry.search:
        expect(page.locator("main a", has_text="Alice").first).to_be_visible()
    else:
        expect(page.locator("main h1")).to_contain_text("alice")
    screenshot(page, "desktop-search")
    assert watch.problems == []


def test_it_loads_the_main_pages_without_csp_violations(open_page, personas, screenshot):
    page, watch = open_page(DESKTOP, locale="en-US")
    page.goto("/accounts/login/")
    sign_in(page, "bob", PASSWORD)
    for path in ("/", "/inbox/", "/search/?q=x", "/org/me/", "/accounts/password/", "/tokens/"):
        page.goto(path)
        assert watch.problems == [], (path, watch.problems)
    response = page.goto("/no-such-page/")
    assert response is not None and response.status == 404
    expect(page.locator(".error-code")).to_have_text("404")
    screenshot(page, "desktop-404")
    assert watch.problems == []
