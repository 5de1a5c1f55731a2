"""Approvals in a real browser: bob approves alice's request on a phone, with htmx, under the strict CSP."""

from __future__ import annotations

import pytest

from steelyard.core import approval_kinds
from steelyard.core.services import approvals as svc
from steelyard.core.testing.personas import PASSWORD
from steelyard.core.tests.browser.conftest import (  # noqa: F401  (fixtures)
    DESKTOP,
    PHONE,
    _browser_settings,
    browser_type_launch_args,
    open_page,
    screenshot,
    sign_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_approves_a_role_request_on_a_phone(personas, open_page, screenshot):  # noqa: F811
    p = personas
    req = svc.approval_request_create(
        actor=p.bob,
        subject=p.alice,
        kind=approval_kinds.ROLE_GRANT,
        requested_change={"add_roles": ["marketing"]},
        reason="Alice runs the spring campaign for the crane line.",
    )
    page, watch = open_page(PHONE)
    page.goto("/accounts/login/")
    sign_in(page, "admin", PASSWORD)
    page.goto("/approvals/")
    assert page.locator(f".d-md-none a[href='/approvals/{req.pk}/']").is_visible()
    screenshot(page, "approvals-list-phone")
    page.goto(f"/approvals/{req.pk}/")
    screenshot(page, "approvals-detail-phone")
    page.fill("#approval-panel textarea[name=comment]", "OK for the campaign season.")
    page.click("#approval-panel button[value=approve]")
    page.wait_for_selector("#approval-panel .alert-success")
    screenshot(page, "approvals-detail-approved-phone")
    assert watch.problems == []
    assert "marketing" in p.alice.get_role_codes()


def test_it_shows_the_route_editor_on_a_desktop(personas, open_page, screenshot):  # noqa: F811
    page, watch = open_page(DESKTOP)
    page.goto("/accounts/login/")
    sign_in(page, "admin", PASSWORD)
    page.goto(f"/approvals/routes/{approval_kinds.ROLE_GRANT}/")
    assert page.locator("select[name='steps-0-type']").input_value() == "role"
    screenshot(page, "approvals-route-edit-desktop")
    assert watch.problems == []
