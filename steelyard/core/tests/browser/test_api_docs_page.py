"""The API docs page runs Swagger UI from local files under our strict CSP."""

from __future__ import annotations

import pytest

from steelyard.core.testing.personas import PASSWORD

from .conftest import DESKTOP, sign_in

pytestmark = pytest.mark.browser


def test_it_renders_the_api_docs_without_csp_violations(personas, open_page, live_server):
    page, watch = open_page(DESKTOP, locale="en-US")
    external: list[str] = []
    page.on(
        "request",
        lambda req: external.append(req.url) if not req.url.startswith(live_server.url) else None,
    )
    page.goto("/api/v1/docs")
    sign_in(page, "alice", PASSWORD)
    page.goto("/api/v1/docs")
    page.wait_for_selector(".opblock", timeout=15000)
    assert page.locator(".opblock").count() >= 4
    assert external == []
    assert watch.problems == []


def test_it_issues_and_revokes_a_token_on_a_phone(personas, open_page, screenshot):
    from .conftest import PHONE

    page, watch = open_page(PHONE, locale="zh-CN")
    page.goto("/tokens/")
    sign_in(page, "alice", PASSWORD)
    page.goto("/tokens/")
    assert page.locator(".empty-state").is_visible()
    page.fill("#id_name", "ERP")
    page.click("form[action='/tokens/new/'] button[type=submit]")
    page.wait_for_selector("#new-token")
    token = page.input_value("#new-token")
    assert token.startswith("sy_")
    screenshot(page, "tokens-phone-new")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("form[data-confirm] button[type=submit]")
    page.wait_for_load_state("load")
    assert page.locator(".badge.text-bg-secondary").count() == 1
    assert watch.problems == []
