"""In Chromium: an administrator adds a required item to a draft stage (htmx) and activates the draft after
confirming; a rep reads the version in force on a phone. No CSP violation or console error on the way."""

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
from steelyard.orders.testing import make_product_line
from steelyard.sales.models import Opportunity, Playbook, PlaybookStatus
from steelyard.sales.services import playbooks as svc
from steelyard.sales.testing import make_opportunity, make_playbook, stage_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _world(personas):
    Playbook.objects.all().delete()
    line = make_product_line("CRANE", name="起重机", name_en="Cranes")
    v1 = make_playbook(line)
    make_opportunity(personas.alice, line=line, playbook=v1, stage="needs")
    draft = svc.playbook_create(actor=personas.admin, product_line=line)
    return v1, draft


def test_an_admin_adds_a_required_item_and_activates_the_draft(open_page, personas, screenshot):  # noqa: F811
    v1, draft = _world(personas)
    needs = stage_of(draft, "needs")
    page, watch = open_page(DESKTOP)
    page.goto(f"/accounts/login/?next=/sales/playbooks/{draft.pk}/")
    sign_in(page, "admin", PASSWORD)
    expect(page).to_have_url(re.compile(rf"/sales/playbooks/{draft.pk}/$"))
    expect(page.locator("[data-ready]")).to_be_visible()
    stage = page.locator(f"#stage-{needs.pk}")
    stage.locator("[data-item-add]").click()
    form = stage.locator("[data-item-form]")
    expect(form).to_be_visible()
    form.locator("select[name$='-kind']").select_option("document")
    form.locator("input[name$='-label']").fill("现场调研报告")
    form.locator("input[name$='-label_en']").fill("Site survey report")
    form.locator("input[name$='-required']").check()
    screenshot(page, "playbook-item-form")
    form.locator("[data-save]").click()
    item = page.locator(f"#stage-{needs.pk} [data-item]", has_text="现场调研报告")
    expect(item).to_be_visible()
    expect(item).to_have_attribute("data-required", "1")
    expect(item).to_have_attribute("data-kind", "document")
    expect(page.locator("[data-flash]")).to_contain_text("现场调研报告")
    assert needs.items.filter(label="现场调研报告", required=True, kind="document").exists()
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    screenshot(page, "playbook-draft-editor")
    page.click("[data-activate]")
    expect(page.locator(f"[data-retires='{v1.pk}']")).to_be_visible()
    screenshot(page, "playbook-activate")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-activate-confirm]")
    expect(page.locator("[data-status]").first).to_have_attribute("data-status", "active")
    draft.refresh_from_db()
    v1.refresh_from_db()
    assert (draft.status, v1.status) == (PlaybookStatus.ACTIVE, PlaybookStatus.RETIRED)
    older = page.locator(f"[data-older='{v1.pk}']")  # its open opportunity can be moved
    expect(older).to_be_visible()
    screenshot(page, "playbook-activated")
    # move it: the stages match by code, the preview counts it, the move asks first
    older.locator("a").click()
    expect(page.locator("[data-total]")).to_have_attribute("data-total", "1")
    expect(page.locator("[data-map-row='needs'] select")).to_have_value(str(needs.pk))
    screenshot(page, "playbook-migrate")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-migrate-confirm]")
    expect(page).to_have_url(re.compile(rf"/sales/playbooks/{draft.pk}/$"))
    expect(page.locator(f"#stage-{needs.pk} [data-stage-open]")).to_have_attribute("data-stage-open", "1")
    assert Opportunity.objects.get().stage_id == needs.pk
    page.goto("/sales/playbooks/")
    expect(page.locator(f"[data-playbook='{draft.pk}']")).to_have_attribute("data-status", "active")
    expect(page.locator(f"[data-playbook='{draft.pk}'] [data-open-count]")).to_have_text("1")
    screenshot(page, "playbook-list-desktop")
    assert watch.problems == []


def test_a_rep_reads_the_process_on_a_phone(open_page, personas, screenshot):  # noqa: F811
    v1, _draft = _world(personas)
    page, watch = open_page(PHONE)
    page.goto("/accounts/login/?next=/sales/playbooks/")
    sign_in(page, "alice", PASSWORD)
    card = page.locator(f"[data-playbook-card='{v1.pk}']")
    expect(card).to_be_visible()
    assert page.locator("[data-playbook-card]").count() == 1  # the draft is not for reps
    screenshot(page, "playbook-list-phone")
    page.goto("/sales/playbooks/?sort=-version")
    expect(page.locator("[data-playbook-card]")).to_have_count(1)
    card.click()
    needs = page.locator("[data-stage='needs']")
    expect(needs).to_contain_text("现场调研")
    expect(needs.locator("[data-stage-open]")).to_have_attribute("data-stage-open", "1")
    assert page.locator("[data-stage-edit]").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "playbook-detail-phone")
    assert watch.problems == []
