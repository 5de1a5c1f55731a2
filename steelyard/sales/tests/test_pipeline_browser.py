"""In a real Chromium: drag a card on the pipeline board. A deal with required items missing stops at the
gate (the dialog lists them and offers a manager's approval); one with nothing missing moves. The board
on a phone scrolls sideways and moves a card through the card's menu. The funnel's charts render and
drill down. No CSP violation anywhere."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from steelyard.core.models.approvals import ApprovalRequest
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
from steelyard.sales.models import Opportunity, StageVisit
from steelyard.sales.testing import add_stage_visit, make_opportunity, make_playbook, stage_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BOARD = "/sales/pipeline/board/"


@pytest.fixture
def board(personas):
    line = make_product_line("CRANE", name="起重机")
    pb = make_playbook(line)
    alice = personas.alice
    close = timezone.localdate() + dt.timedelta(days=45)
    deals = {
        "free": make_opportunity(
            alice, playbook=pb, stage="qualify", name="港口门机项目", amount="2800000", close=close
        ),
        "gated": make_opportunity(
            alice, playbook=pb, stage="needs", name="钢厂桥式起重机", amount="5600000", close=close
        ),
    }
    for i in range(3):
        make_opportunity(
            alice,
            playbook=pb,
            stage=["qualify", "proposal", "negotiation"][i],
            name=f"备用商机{i}",
            close=close,
        )
    return pb, deals


def _open(open_page, device, username="alice"):  # noqa: F811
    page, watch = open_page(device)
    page.goto(f"/accounts/login/?next={BOARD}")
    sign_in(page, username, PASSWORD)
    expect(page).to_have_url(re.compile(r"/sales/pipeline/board/"))
    expect(page.locator("[data-board]")).to_be_visible()
    return page, watch


def _unexpected(watch):
    """Problems other than the gate's own answer (409 Conflict, expected when a gate blocks a move)."""
    return [p for p in watch.problems if not p.startswith("409: ")]


def _card(page, opp):
    return page.locator(f"[data-card='{opp.pk}']")


def _column(page, pb, code):
    return page.locator(f"[data-column='{stage_of(pb, code).pk}']")


def test_drag_to_the_next_stage_stops_at_the_gate_then_moves_when_nothing_is_missing(
    open_page,  # noqa: F811
    personas,
    board,
    screenshot,  # noqa: F811
):
    pb, deals = board
    page, watch = _open(open_page, DESKTOP)
    screenshot(page, "sales-board-desktop")

    # Needs analysis → proposal with the decision-makers and the site survey missing: the gate.
    _card(page, deals["gated"]).drag_to(_column(page, pb, "proposal").locator("[data-dropzone]"))
    dialog = page.locator("[data-gate-dialog]")
    expect(dialog).to_be_visible()
    expect(dialog.locator("[data-missing-item]")).to_have_count(2)
    expect(dialog.locator("[data-gate-missing]")).to_contain_text("关键决策人")
    expect(dialog.locator("[data-gate-missing]")).to_contain_text("现场调研")
    screenshot(page, "sales-board-gate-dialog")
    # Cancel: the card stays in its column, nothing moved.
    dialog.get_by_role("button", name="取消").click()
    expect(dialog).to_be_hidden()
    expect(_column(page, pb, "needs").locator(f"[data-card='{deals['gated'].pk}']")).to_have_count(1)
    assert Opportunity.objects.get(pk=deals["gated"].pk).stage.code == "needs"

    # Qualify → needs: nothing required in qualify, the card moves and the counts follow.
    needs_count = _column(page, pb, "needs").locator("[data-col-count]")
    expect(needs_count).to_have_text("1")
    _card(page, deals["free"]).drag_to(_column(page, pb, "needs").locator("[data-dropzone]"))
    expect(_column(page, pb, "needs").locator(f"[data-card='{deals['free'].pk}']")).to_have_count(1)
    expect(needs_count).to_have_text("2")
    expect(page.locator("[data-board-status]")).to_contain_text("港口门机项目")
    assert Opportunity.objects.get(pk=deals["free"].pk).stage.code == "needs"
    assert StageVisit.objects.filter(opportunity=deals["free"], stage__code="needs").exists()
    screenshot(page, "sales-board-moved")
    assert _unexpected(watch) == []


def test_the_gate_dialog_requests_a_managers_approval(open_page, personas, board, screenshot):  # noqa: F811
    pb, deals = board
    page, watch = _open(open_page, DESKTOP)
    _card(page, deals["gated"]).drag_to(_column(page, pb, "proposal").locator("[data-dropzone]"))
    dialog = page.locator("[data-gate-dialog]")
    expect(dialog).to_be_visible()
    dialog.locator("textarea[name=reason]").fill("客户总经理已口头确认，调研下周补")
    dialog.locator("[data-gate-request]").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("[data-board-status]")).to_contain_text("钢厂桥式起重机")
    request = ApprovalRequest.objects.get(object_id=str(deals["gated"].pk))
    assert request.reason == "客户总经理已口头确认，调研下周补"
    # Nothing moves until the manager approves.
    expect(_column(page, pb, "needs").locator(f"[data-card='{deals['gated'].pk}']")).to_have_count(1)
    assert _unexpected(watch) == []


def test_the_board_on_a_phone_scrolls_sideways_and_moves_through_the_card_menu(
    open_page,  # noqa: F811
    personas,
    board,
    screenshot,  # noqa: F811
):
    pb, deals = board
    page, watch = _open(open_page, PHONE)
    width = page.evaluate(
        "() => { const b = document.querySelector('[data-board]'); return [b.scrollWidth, b.clientWidth]; }"
    )
    assert width[0] > width[1]  # the columns scroll sideways inside the board, not the page
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    screenshot(page, "sales-board-phone")
    card = _card(page, deals["free"])
    card.locator("[data-move-menu]").click()
    card.get_by_role("button", name="需求分析").click()
    expect(_column(page, pb, "needs").locator(f"[data-card='{deals['free'].pk}']")).to_have_count(1)
    assert Opportunity.objects.get(pk=deals["free"].pk).stage.code == "needs"
    needs = stage_of(pb, "needs").pk
    expect(page.locator(f"[data-jump-count='{needs}']")).to_have_text("2")  # the stage chips follow
    screenshot(page, "sales-board-phone-moved")
    assert watch.problems == []


def test_a_move_to_the_lost_column_asks_for_the_reason(open_page, personas, board, screenshot):  # noqa: F811
    pb, deals = board
    page, watch = _open(open_page, DESKTOP)
    # The lost column is off to the right: through the card's "move to" menu this time.
    card = _card(page, deals["free"])
    card.locator("[data-move-menu]").click()
    card.locator(f"[data-lost-stage='{stage_of(pb, 'lost').pk}']").click()
    dialog = page.locator("[data-lost-dialog]")
    expect(dialog).to_be_visible()
    dialog.locator("[data-lost-submit]").click()  # no reason yet: the browser asks for one, nothing moves
    assert Opportunity.objects.get(pk=deals["free"].pk).status == "open"
    dialog.locator("select[name=close_reason]").select_option("price")
    dialog.locator("[data-lost-submit]").click()
    expect(dialog).to_be_hidden()
    expect(_column(page, pb, "lost").locator(f"[data-card='{deals['free'].pk}']")).to_have_count(1)
    opp = Opportunity.objects.get(pk=deals["free"].pk)
    assert (opp.status, opp.close_reason) == ("lost", "price")
    assert watch.problems == []


def test_funnel_charts_render_and_a_slice_drills_down(open_page, personas, board, screenshot):  # noqa: F811
    pb, deals = board
    now = timezone.now()
    StageVisit.objects.filter(opportunity=deals["gated"]).update(entered_at=now - dt.timedelta(days=3))
    add_stage_visit(
        deals["gated"],
        stage_of(pb, "qualify"),
        entered_at=now - dt.timedelta(days=12),
        left_at=now - dt.timedelta(days=3),
    )
    page, watch = open_page(DESKTOP)
    page.goto("/accounts/login/?next=/sales/pipeline/funnel/")
    sign_in(page, "bob", PASSWORD)
    for name in ("funnel", "reached", "velocity"):
        chart = page.locator(f"[data-chart='{name}']")
        expect(chart).to_have_attribute("data-ready", "1")
        expect(chart.locator("canvas")).to_have_count(1)
    expect(page.locator("[data-kpi='open']")).to_have_text("5")
    screenshot(page, "sales-funnel-desktop")
    with page.expect_navigation(url=re.compile(r"/sales/pipeline/funnel/deals/\?.*metric=open")):
        page.locator("[data-table='stages'] tbody a").first.click()
    expect(page.locator("[data-deals]")).to_be_visible()
    screenshot(page, "sales-funnel-drill-desktop")
    assert watch.problems == []


def test_funnel_on_a_phone(open_page, personas, board, screenshot):  # noqa: F811
    page, watch = open_page(PHONE)
    page.goto("/accounts/login/?next=/sales/pipeline/funnel/")
    sign_in(page, "alice", PASSWORD)
    expect(page.locator("[data-chart='funnel']")).to_have_attribute("data-ready", "1")
    expect(page.locator("[data-cards='stages']")).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    screenshot(page, "sales-funnel-phone")
    assert watch.problems == []


def test_the_managers_risk_list(open_page, personas, board, screenshot):  # noqa: F811
    from steelyard.sales.services.risks import risks_refresh

    risks_refresh()
    for device, name in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page, watch = open_page(device)
        page.goto("/accounts/login/?next=/sales/pipeline/risks/")
        sign_in(page, "bob", PASSWORD)
        if device is DESKTOP:
            expect(page.locator("[data-table='risks-by-rep']")).to_contain_text("Alice")
            expect(page.locator("[data-deals] [data-flag='single_threaded']").first).to_be_visible()
        else:
            expect(page.locator("[data-deal-card]").first).to_be_visible()
            assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
        screenshot(page, f"sales-risks-{name}")
        assert watch.problems == []
