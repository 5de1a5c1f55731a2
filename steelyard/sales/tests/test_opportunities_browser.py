"""In a real browser: on a phone a rep opens a deal and completes a checklist item; on a desktop she tries
to move on with items missing, sees the gate list them and asks her manager to approve."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from steelyard.core.models import ApprovalRequest, ApprovalStatus
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
from steelyard.sales.models import ChecklistEntry, ItemKind
from steelyard.sales.services import opportunities as services
from steelyard.sales.tests._opportunities_world import build_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _deal_in_needs(personas):  # type: ignore[no-untyped-def]
    world = build_world(personas)
    opp = services.opportunity_create(
        actor=personas.alice,
        customer=world.own,
        product_line=world.line,
        name="两台50吨门机",
        expected_close_date=world.close,
        lines=[{"product": world.crane, "quantity": 2}, {"product": world.option, "parent": 0}],
        next_step="安排现场调研",
    )
    services.opportunity_competitor_set(
        actor=personas.alice, opportunity=opp, competitor="徐工", strengths="价格低", threat="high"
    )
    services.opportunity_stage_move(actor=personas.alice, opportunity=opp, to_stage="needs")
    return world, opp


def test_a_rep_ticks_a_checklist_item_on_a_phone(open_page, personas, screenshot):  # noqa: F811
    _world, opp = _deal_in_needs(personas)
    task = opp.playbook.stages.get(code="needs").items.get(kind=ItemKind.TASK)
    page, watch = open_page(PHONE)
    page.goto("/accounts/login/?next=/sales/")
    sign_in(page, "alice", PASSWORD)
    expect(page).to_have_url(re.compile(r"/sales/$"))
    card = page.locator(f"[data-opportunity-card='{opp.pk}']")
    expect(card).to_be_visible()  # cards, not the wide table, on a phone
    expect(page.locator("table.table")).to_be_hidden()
    expect(card.locator("[data-flag='competitor']")).to_be_visible()
    screenshot(page, "phone-opportunity-list")
    with page.expect_navigation(url=re.compile(rf"/sales/{opp.pk}/$")):
        card.click()
    expect(page.locator("[data-step='needs']")).to_have_attribute("data-state", "current")
    item = page.locator(f"[data-checklist] [data-item='{task.pk}']")
    expect(item).to_have_attribute("data-done", "0")
    expect(page.locator("[data-checklist] [data-field='decision_makers'] [data-fill]")).to_be_visible()
    screenshot(page, "phone-opportunity-checklist")

    item.locator("[data-tick-button]").click()
    item = page.locator(f"[data-checklist] [data-item='{task.pk}']")
    expect(item).to_have_attribute("data-done", "1")
    expect(page.locator("[data-flash]")).to_contain_text("现场调研")
    expect(item.locator("[data-untick]")).to_be_visible()
    screenshot(page, "phone-opportunity-checklist-done")
    entry = ChecklistEntry.objects.get(opportunity=opp, item=task)
    assert entry.done and entry.done_by == personas.alice
    assert watch.problems == []


def test_the_gate_lists_what_is_missing_and_asks_the_manager(open_page, personas, screenshot):  # noqa: F811
    _world, opp = _deal_in_needs(personas)
    page, watch = open_page(DESKTOP)
    page.goto(f"/accounts/login/?next=/sales/{opp.pk}/")
    sign_in(page, "alice", PASSWORD)
    expect(page.locator("[data-step='needs']")).to_have_attribute("data-state", "current")
    screenshot(page, "desktop-opportunity")
    page.locator("[data-move-next] button").click()
    gate = page.locator("[data-gate]")
    expect(gate).to_be_visible()
    expect(gate.locator("[data-gate-missing] li")).to_have_text(["关键决策人", "现场调研"])
    expect(page.locator("[data-step='needs']")).to_have_attribute("data-state", "current")
    screenshot(page, "desktop-opportunity-gate")

    gate.locator("textarea[name=reason]").fill("客户总经理出差，下周补调研，报价须本周发出")
    gate.locator("button[type=submit]").click()
    expect(page.locator("[data-pending-approval]")).to_be_visible()
    expect(page.locator("[data-move-next] button")).to_be_disabled()
    screenshot(page, "desktop-opportunity-approval-requested")
    request = ApprovalRequest.objects.get(kind="sales.stage_gate", object_id=str(opp.pk))
    assert request.status == ApprovalStatus.PENDING and request.steps.get().approver == personas.bob

    page.goto("/sales/")
    row = page.locator(f"tr[data-opportunity='{opp.pk}']")
    expect(row).to_be_visible()  # the table, not the cards, on a desktop
    expect(row.locator("[data-flag='tasks_missing']")).to_be_visible()
    screenshot(page, "desktop-opportunity-list")
    page.goto(f"/sales/{opp.pk}/lines/")
    expect(page.locator("[data-line-form]")).to_have_count(4)  # two lines and two empty rows
    screenshot(page, "desktop-opportunity-lines")
    page.goto(f"/sales/new/?customer={opp.customer_id}")
    expect(page.locator(f"[data-fixed-customer='{opp.customer_id}']")).to_be_visible()
    screenshot(page, "desktop-opportunity-new")
    assert watch.problems == []
