"""The opportunity pages from every side: the list (filters, search, sort, cards, export), create/edit,
the opportunity page and its htmx actions (checklist, gate, approval, close, reopen, competitors,
decision-makers, team), the customer page's section, search, the home widget; query counts; zh-hans."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import trans_real

from steelyard.core.models import ApprovalRequest, AuditLog
from steelyard.core.registry import registry
from steelyard.org.models import User
from steelyard.sales.models import (
    ChecklistEntry,
    ItemKind,
    Opportunity,
    OpportunityMember,
    OpportunityStatus,
    RiskFlag,
    TeamRole,
)
from steelyard.sales.services import opportunities as services
from steelyard.sales.tests._opportunities_world import build_world

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
OWN, OTHER = "两台50吨门机", "查理的发电机组"


@pytest.fixture
def world(personas):
    w = build_world(personas)
    w.opp = services.opportunity_create(
        actor=personas.alice,
        customer=w.own,
        product_line=w.line,
        name=OWN,
        expected_close_date=w.close,
        lines=[{"product": w.crane, "quantity": 2}],
    )
    services.opportunity_stage_move(actor=personas.alice, opportunity=w.opp, to_stage="needs")
    w.theirs = services.opportunity_create(
        actor=personas.charlie,
        customer=w.other,
        product_line=w.line,
        name=OTHER,
        expected_close_date=w.close,
        amount=Decimal("300000"),
    )
    return w


@pytest.fixture
def engineer(personas):
    """A solution engineer in another branch, outside alice's scope until she joins the deal's team."""
    user = User(username="eva", display_name="Eva", org_unit=personas.beijing, email="eva@example.com")
    user.set_password("x")
    user.save()
    return user


def _body(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def _url(name, *args):
    return reverse(name, args=args)


def _detail(world):
    return _url("sales_opportunity_detail", world.opp.pk)


# --- the list ----------------------------------------------------------------------------------------


def test_the_list_shows_each_persona_what_they_may_see(world, personas, client_for, engineer):
    url = _url("sales_opportunity_list")
    for user in (personas.alice, personas.bob, personas.dora, personas.admin):
        body = _body(client_for(user).get(url))
        assert OWN in body, user
        assert (OTHER in body) == (user == personas.admin), user
    body = _body(client_for(personas.charlie).get(url))
    assert OTHER in body and OWN not in body
    assert OWN not in _body(client_for(engineer).get(url))
    services.opportunity_member_add(
        actor=personas.alice, opportunity=world.opp, user=engineer, role=TeamRole.SOLUTION_ENGINEER
    )
    body = _body(client_for(engineer).get(url, {"mine": "team"}))
    assert OWN in body and OTHER not in body


def test_the_list_has_a_table_and_phone_cards_with_risk_badges(world, personas, client_for):
    body = _body(client_for(personas.alice).get(_url("sales_opportunity_list")))
    assert f'data-opportunity="{world.opp.pk}"' in body
    assert f'data-opportunity-card="{world.opp.pk}"' in body
    assert 'data-flag="tasks_missing"' in body and str(RiskFlag.TASKS_MISSING.label) in body
    assert 'data-stage="needs"' in body


def test_the_list_filters_searches_and_sorts(world, personas, client_for):
    alice = personas.alice
    big = services.opportunity_create(
        actor=alice,
        customer=world.own,
        product_line=world.line,
        name="港口岸桥改造",
        expected_close_date=world.close + dt.timedelta(days=90),
        amount=Decimal("9000000"),
    )
    lost = services.opportunity_create(
        actor=alice,
        customer=world.own,
        product_line=world.line,
        name="旧门机翻新",
        expected_close_date=world.close,
    )
    services.opportunity_close(actor=alice, opportunity=lost, outcome="lost", reason="price")
    c = client_for(personas.bob)
    url = _url("sales_opportunity_list")

    def names(params):
        return re.findall(
            r'data-opportunity="\d+">\s*<td class="min-w-0">\s*<a class="fw-semibold" href="[^"]+">([^<]+)</a>',
            _body(c.get(url, params)),
        )

    assert names({}) == [OWN, "旧门机翻新", "港口岸桥改造"]  # soonest close first (id breaks the tie)
    assert names({"status": "open"}) == [OWN, "港口岸桥改造"]
    assert names({"stage": "needs"}) == [OWN]
    assert names({"stage": "qualify", "status": "open"}) == ["港口岸桥改造"]
    assert names({"q": "岸桥"}) == ["港口岸桥改造"]
    assert names({"q": big.number}) == ["港口岸桥改造"]
    assert names({"q": "振华"}) == [OWN, "旧门机翻新", "港口岸桥改造"]
    assert names({"amount_min": "5000000"}) == ["港口岸桥改造"]
    assert names({"amount_max": "5000000", "status": "open"}) == [OWN]
    assert names({"close_from": (world.close + dt.timedelta(days=1)).isoformat()}) == ["港口岸桥改造"]
    assert names({"category": "lost"}) == ["旧门机翻新"]
    assert names({"category": "pipeline"}) == [OWN, "港口岸桥改造"]
    # the forecast's roll-ups drill down with several categories, closed deals by the day they closed
    assert names({"category": ["commit", "lost"]}) == ["旧门机翻新"]
    assert names({"category": ["pipeline", "lost"]}) == [OWN, "旧门机翻新", "港口岸桥改造"]
    today = timezone.localdate().isoformat()
    assert names({"closed_from": today, "closed_to": today}) == ["旧门机翻新"]
    assert names({"closed_to": (timezone.localdate() - dt.timedelta(days=1)).isoformat()}) == []
    assert names({"flag": "tasks_missing"}) == [OWN]
    assert names({"owner": personas.alice.pk, "product_line": world.line.pk, "unit": personas.team_a.pk}) == [
        OWN,
        "旧门机翻新",
        "港口岸桥改造",
    ]
    assert names({"customer": world.own.pk, "sort": "-amount"}) == ["港口岸桥改造", OWN, "旧门机翻新"]
    assert names({"sort": "amount"}) == ["旧门机翻新", OWN, "港口岸桥改造"]
    assert names({"customer": world.other.pk}) == []  # charlie's customer: nothing bob may see
    # bad input is shown on the form and ignored, never a 500
    body = _body(c.get(url, {"close_from": "tomorrow", "stage": "nope", "sort": "bogus", "amount_min": "x"}))
    assert "invalid-feedback" in body and OWN in body
    body = _body(c.get(url, {"amount_min": "9", "amount_max": "1"}))
    assert "invalid-feedback" in body


def test_an_empty_list_says_what_to_do(personas, client_for):
    body = _body(client_for(personas.alice).get(_url("sales_opportunity_list")))
    assert "empty-state" in body and _url("sales_opportunity_new") in body


def test_the_export_is_scoped_filtered_and_audited(world, personas, client_for):
    def rows(user, params=None):
        response = client_for(user).get(_url("sales_opportunity_export"), params or {})
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        text = b"".join(response.streaming_content).decode("utf-8-sig")
        return list(csv.reader(io.StringIO(text)))

    alice_rows = rows(personas.alice)
    assert [r[1] for r in alice_rows[1:]] == [OWN]
    assert alice_rows[1][0] == world.opp.number and alice_rows[1][6] == "2400000.00"
    assert [r[1] for r in rows(personas.charlie)[1:]] == [OTHER]
    assert {r[1] for r in rows(personas.admin)[1:]} == {OWN, OTHER}
    assert [r[1] for r in rows(personas.admin, {"q": "查理"})[1:]] == [OTHER]
    assert AuditLog.objects.filter(verb="sales.opportunity_export").count() == 4


# --- create and edit ------------------------------------------------------------------------------------------


def test_a_rep_creates_an_opportunity_from_the_customer_page(world, personas, client_for):
    c = client_for(personas.alice)
    url = f"{_url('sales_opportunity_new')}?customer={world.own.pk}"
    body = _body(c.get(url))
    assert f'data-fixed-customer="{world.own.pk}"' in body
    response = c.post(
        url,
        {
            "customer": world.own.pk,
            "product_line": world.line.pk,
            "name": "新增一台岸桥",
            "expected_close_date": world.close.isoformat(),
            "amount": "",
            "source": "exhibition",
        },
    )
    opp = Opportunity.objects.get(name="新增一台岸桥")
    assert response.status_code == 302 and response["Location"] == opp.get_absolute_url()
    assert opp.owner == personas.alice and opp.stage.code == "qualify" and opp.source == "exhibition"


def test_the_create_form_explains_and_refuses_other_peoples_customers(world, personas, client_for):
    c = client_for(personas.charlie)
    assert c.get(f"{_url('sales_opportunity_new')}?customer={world.own.pk}").status_code == 404
    response = c.post(
        _url("sales_opportunity_new"),
        {
            "customer": world.own.pk,
            "product_line": world.line.pk,
            "name": "x",
            "expected_close_date": "2030-01-01",
        },
    )
    assert response.status_code == 400 and "invalid-feedback" in response.content.decode()
    response = client_for(personas.alice).post(_url("sales_opportunity_new"), {"customer": world.own.pk})
    assert response.status_code == 400
    assert Opportunity.objects.count() == 2


def test_the_edit_page_from_three_sides(world, personas, client_for):
    url = _url("sales_opportunity_edit", world.opp.pk)
    for user in (personas.alice, personas.bob, personas.dora, personas.admin):
        assert client_for(user).get(url).status_code == 200, user
    assert client_for(personas.charlie).get(url).status_code == 404
    body = _body(client_for(personas.bob).get(url))
    assert 'name="owner"' in body  # a manager may reassign
    assert 'name="owner"' not in _body(client_for(personas.alice).get(url))
    response = client_for(personas.alice).post(
        url,
        {
            "name": OWN,
            "expected_close_date": world.close.isoformat(),
            "amount": "2000000",
            "probability": "35",
            "forecast_category": "best_case",
            "next_step": "报价评审",
        },
    )
    assert response.status_code == 302
    world.opp.refresh_from_db()
    assert world.opp.amount == Decimal("2000000") and world.opp.amount_is_manual
    assert world.opp.probability == Decimal("35") and world.opp.forecast_category == "best_case"
    assert world.opp.weighted_amount == Decimal("700000.00")
    response = client_for(personas.alice).post(url, {"name": "", "expected_close_date": "soon"})
    assert response.status_code == 400 and "invalid-feedback" in response.content.decode()
    response = client_for(personas.bob).post(
        url, {"name": OWN, "expected_close_date": world.close.isoformat(), "owner": personas.bob.pk}
    )
    assert response.status_code == 302
    world.opp.refresh_from_db()
    assert world.opp.owner == personas.bob and not world.opp.amount_is_manual


def test_the_solution_lines_page(world, personas, client_for):
    url = _url("sales_opportunity_lines", world.opp.pk)
    assert client_for(personas.charlie).get(url).status_code == 404
    c = client_for(personas.alice)
    body = _body(c.get(url))
    assert "lines-TOTAL_FORMS" in body
    data = {
        "lines-TOTAL_FORMS": "3",
        "lines-INITIAL_FORMS": "1",
        "lines-0-product": world.crane.pk,
        "lines-0-quantity": "3",
        "lines-1-product": world.option.pk,
        "lines-1-parent": "1",
        "lines-2-description": "五年维保",
        "lines-2-kind": "service",
        "lines-2-unit_price": "50000",
    }
    response = c.post(url, data)
    assert response.status_code == 302
    world.opp.refresh_from_db()
    assert world.opp.amount == Decimal("3600000") + Decimal("85000.50") + Decimal("50000")
    lines = list(world.opp.lines.order_by("order"))
    assert lines[1].parent_id == lines[0].pk
    data["lines-2-unit_price"] = ""  # no product and no price
    response = c.post(url, data)
    assert response.status_code == 400 and "data-errors" in response.content.decode()


# --- the opportunity page ---------------------------------------------------------------------------------


def test_the_page_from_every_side(world, personas, client_for, engineer):
    url = _detail(world)
    for user in (personas.alice, personas.bob, personas.dora, personas.admin):
        body = _body(client_for(user).get(url))
        assert OWN in body and "data-tick-button" in body, user
    assert client_for(personas.charlie).get(url).status_code == 404
    assert client_for(engineer).get(url).status_code == 404
    assert client_for(personas.alice).get(_url("sales_opportunity_detail", 999_999)).status_code == 404
    services.opportunity_member_add(
        actor=personas.alice, opportunity=world.opp, user=engineer, role=TeamRole.SOLUTION_ENGINEER
    )
    body = _body(client_for(engineer).get(url))
    assert "data-tick-button" in body and "data-edit" in body  # the team works the deal
    # the customer's owner (not on the deal) only looks
    world.own.owner = personas.charlie
    world.own.save(update_fields=["owner"])
    body = _body(client_for(personas.charlie).get(url))
    assert OWN in body and "data-tick-button" not in body and "data-edit" not in body


def test_the_page_shows_progress_checklist_lines_history_and_sections(world, personas, client_for):
    body = _body(client_for(personas.alice).get(_detail(world)))
    states = re.findall(r'data-step="([a-z_]+)" data-state="([a-z]+)"', body)
    assert states == [
        ("qualify", "done"),
        ("needs", "current"),
        ("proposal", "future"),
        ("negotiation", "future"),
        ("won", "future"),
    ]
    assert 'data-kind="field"' in body and 'data-field="decision_makers"' in body
    assert 'href="#contacts" data-fill' in body  # where to fill the missing information
    assert 'data-line="1"' in body and "50吨门座起重机" in body
    assert 'data-visit="qualify"' in body and 'data-visit="needs"' in body
    assert "data-change" in body  # the stage change in the history
    assert 'id="collab"' in body
    keys = [s.key for s in registry.sections_for("sales.opportunity", personas.alice)]
    for key in keys:
        assert f'data-section="{key}"' in body


def test_ticking_a_task_with_htmx(world, personas, client_for):
    task = world.opp.playbook.stages.get(code="needs").items.get(kind=ItemKind.TASK)
    url = _url("sales_opportunity_checklist", world.opp.pk, task.pk)
    assert client_for(personas.charlie).post(url, {"done": "1"}, **HX).status_code == 404
    body = _body(client_for(personas.alice).post(url, {"done": "1"}, **HX))
    assert body.lstrip().startswith('<div id="opp-page"')
    assert f'data-item="{task.pk}" data-kind="task" data-done="1"' in body and "data-flash" in body
    assert ChecklistEntry.objects.get(opportunity=world.opp, item=task).done
    # without JavaScript: a redirect back to the page
    response = client_for(personas.alice).post(url, {"done": ""})
    assert response.status_code == 302 and response["Location"] == _detail(world)
    assert not ChecklistEntry.objects.get(opportunity=world.opp, item=task).done


def test_attaching_the_required_document(world, personas, client_for):
    from django.core.files.uploadedfile import SimpleUploadedFile

    doc = world.opp.playbook.stages.get(code="proposal").items.get(kind=ItemKind.DOCUMENT)
    url = _url("sales_opportunity_checklist", world.opp.pk, doc.pk)
    body = _body(client_for(personas.alice).post(url, {"done": "1"}, **HX))
    assert "data-error" in body
    pdf = SimpleUploadedFile("方案.pdf", b"%PDF-1.4\n%x\n", content_type="application/pdf")
    _body(client_for(personas.alice).post(url, {"done": "1", "file": pdf}, **HX))
    entry = ChecklistEntry.objects.get(opportunity=world.opp, item=doc)
    assert entry.done and entry.attachment.filename == "方案.pdf"


def test_the_gate_shows_what_is_missing_and_offers_the_approval(world, personas, client_for):
    proposal = world.opp.playbook.stages.get(code="proposal")
    url = _url("sales_opportunity_move", world.opp.pk)
    c = client_for(personas.alice)
    body = _body(c.post(url, {"to_stage": proposal.pk}, **HX))
    assert "data-gate" in body and "data-approval-form" in body
    assert re.findall(r"data-missing-item=\"\d+\">([^<]+)<", body) == ["关键决策人", "现场调研"]
    response = c.post(url, {"to_stage": proposal.pk})  # without JavaScript
    assert response.status_code == 409 and "data-gate" in response.content.decode()
    body = _body(c.post(url, {"to_stage": proposal.pk, "request_approval": "1", "reason": ""}, **HX))
    assert "data-gate" in body and "data-error" in body  # a reason is needed
    body = _body(
        c.post(url, {"to_stage": proposal.pk, "request_approval": "1", "reason": "本周必须报价"}, **HX)
    )
    assert "data-pending-approval" in body and "Bob" in body
    request = ApprovalRequest.objects.get(kind="sales.stage_gate")
    assert request.requested_change["to_stage"] == proposal.pk
    world.opp.refresh_from_db()
    assert world.opp.stage.code == "needs"
    assert client_for(personas.charlie).post(url, {"to_stage": proposal.pk}, **HX).status_code == 404


def test_moving_back_closing_and_reopening(world, personas, client_for):
    c = client_for(personas.alice)
    qualify = world.opp.playbook.stages.get(code="qualify")
    body = _body(c.post(_url("sales_opportunity_move", world.opp.pk), {"to_stage": qualify.pk}, **HX))
    assert 'data-stage="qualify"' in body
    close = _url("sales_opportunity_close", world.opp.pk)
    body = _body(c.post(close, {"outcome": "lost"}, **HX))
    assert "data-error" in body  # a reason is needed
    body = _body(c.post(close, {"outcome": "won"}, **HX))
    assert "data-gate" in body  # winning goes through the gate
    body = _body(c.post(close, {"outcome": "lost", "reason": "price", "lost_to": "三一重工"}, **HX))
    assert 'data-outcome="lost"' in body and "三一重工" in body and "data-reopen" in body
    world.opp.refresh_from_db()
    assert world.opp.status == OpportunityStatus.LOST
    body = _body(c.post(_url("sales_opportunity_reopen", world.opp.pk), {"reason": "重新招标"}, **HX))
    assert 'data-status="open"' in body
    world.opp.refresh_from_db()
    assert world.opp.status == OpportunityStatus.OPEN and world.opp.stage.code == "qualify"


def test_competitors_decision_makers_and_the_team_on_the_page(world, personas, client_for, engineer):
    c = client_for(personas.alice)
    pk = world.opp.pk
    body = _body(
        c.post(
            _url("sales_opportunity_competitor_set", pk),
            {"competitor": "徐工", "threat": "high", "strengths": "价格低"},
            **HX,
        )
    )
    assert 'data-threat="high"' in body and 'data-flag="competitor"' in body
    competitor_id = world.opp.competitors.get().competitor_id
    body = _body(
        c.post(_url("sales_opportunity_competitor_set", pk), {"competitor": "", "threat": "x"}, **HX)
    )
    assert "data-error" in body
    body = _body(c.post(_url("sales_opportunity_competitor_remove", pk, competitor_id), **HX))
    assert f'data-competitor="{competitor_id}"' not in body

    body = _body(
        c.post(
            _url("sales_opportunity_contact_set", pk),
            {"contact": world.boss.pk, "role": "decision_maker", "attitude": "champion"},
            **HX,
        )
    )
    assert f'data-contact="{world.boss.pk}"' in body and 'data-attitude="champion"' in body
    assert 'data-field="decision_makers"' in body and "text-success" in body
    other = world.other.contacts.create(name="张三")
    body = _body(
        c.post(_url("sales_opportunity_contact_set", pk), {"contact": other.pk, "role": "user"}, **HX)
    )
    assert "data-error" in body
    body = _body(c.post(_url("sales_opportunity_contact_remove", pk, world.boss.pk), **HX))
    assert f'data-contact="{world.boss.pk}"' not in body

    body = _body(
        c.post(
            _url("sales_opportunity_member_add", pk), {"user": engineer.pk, "role": "solution_engineer"}, **HX
        )
    )
    member = OpportunityMember.objects.get(opportunity=world.opp, user=engineer)
    assert f'data-member="{member.pk}"' in body
    owner = OpportunityMember.objects.get(opportunity=world.opp, role="owner")
    body = _body(c.post(_url("sales_opportunity_member_remove", pk, owner.pk), **HX))
    assert "data-error" in body
    _body(c.post(_url("sales_opportunity_member_remove", pk, member.pk), **HX))
    assert not OpportunityMember.objects.filter(pk=member.pk).exists()
    for name, args in (
        ("sales_opportunity_competitor_set", (pk,)),
        ("sales_opportunity_contact_set", (pk,)),
        ("sales_opportunity_member_add", (pk,)),
        ("sales_opportunity_reopen", (pk,)),
        ("sales_opportunity_close", (pk,)),
    ):
        assert (
            client_for(personas.charlie).post(_url(name, *args), {"outcome": "lost"}, **HX).status_code == 404
        )


# --- the customer page, search, home, menu ----------------------------------------------------------------


def test_the_customer_page_lists_its_deals_with_a_new_link(world, personas, client_for):
    url = _url("customer_detail", world.own.pk)
    body = _body(client_for(personas.alice).get(url))
    assert 'data-section="opportunities"' in body and f'data-opportunity="{world.opp.pk}"' in body
    assert f"{_url('sales_opportunity_new')}?customer={world.own.pk}" in body
    body = _body(client_for(personas.charlie).get(_url("customer_detail", world.other.pk)))
    assert f'data-opportunity="{world.theirs.pk}"' in body and OWN not in body


def test_global_search_finds_only_visible_deals(world, personas):
    provider = registry.search["sales.opportunities"]
    assert [r.title for r in provider.search(personas.alice, "门机", 10)] == [f"{world.opp.number} {OWN}"]
    assert provider.search(personas.charlie, "门机", 10) == []
    assert [r.title for r in provider.search(personas.charlie, "查理", 10)] == [
        f"{world.theirs.number} {OTHER}"
    ]


def test_the_home_widget_shows_my_deals_closing_this_month(world, personas, client_for):
    Opportunity.objects.filter(pk=world.opp.pk).update(expected_close_date=timezone.localdate())
    body = _body(client_for(personas.alice).get("/"))
    assert 'data-widget="sales-closing-this-month"' in body and f'data-opportunity="{world.opp.pk}"' in body
    body = _body(client_for(personas.charlie).get("/"))
    assert f'data-opportunity="{world.opp.pk}"' not in body


def test_the_menu_has_opportunities_under_sales(personas, client_for):
    body = _body(client_for(personas.alice).get("/"))
    assert _url("sales_opportunity_list") in body


# --- query counts -----------------------------------------------------------------------------------------------


def test_the_list_and_the_page_render_in_bounded_queries(
    world, personas, client_for, django_assert_max_num_queries
):
    for i in range(12):
        services.opportunity_create(
            actor=personas.alice,
            customer=world.own,
            product_line=world.line,
            name=f"商机{i}",
            expected_close_date=world.close,
            lines=[{"product": world.crane}],
        )
    services.opportunity_competitor_set(actor=personas.alice, opportunity=world.opp, competitor="徐工")
    services.opportunity_contact_set(
        actor=personas.alice, opportunity=world.opp, contact=world.boss, role="user"
    )
    c = client_for(personas.bob)
    c.get(_url("sales_opportunity_list"))  # warm the session
    with django_assert_max_num_queries(14):
        _body(c.get(_url("sales_opportunity_list")))
    with django_assert_max_num_queries(14):
        _body(
            c.get(
                _url("sales_opportunity_list"),
                {"status": "open", "sort": "-amount", "flag": "single_threaded"},
            )
        )
    with django_assert_max_num_queries(30):
        _body(c.get(_detail(world)))
    task = world.opp.playbook.stages.get(code="needs").items.get(kind=ItemKind.TASK)
    with django_assert_max_num_queries(42):
        _body(c.post(_url("sales_opportunity_checklist", world.opp.pk, task.pk), {"done": "1"}, **HX))


# --- zh-hans ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def pending_zh():
    """This area's zh-hans translations (``locale/_pending``), until the lead compiles them into the catalogue."""
    path = Path(settings.BASE_DIR) / "steelyard" / "locale" / "_pending" / "sales_opportunities.json"
    entries = json.loads(path.read_text(encoding="utf-8"))
    catalog = trans_real.translation("zh-hans")._catalog
    added = {}
    for msgid, msgstr in entries.items():
        if isinstance(msgstr, list):
            for n, form in enumerate(msgstr):
                key = (msgid, n)
                if key not in catalog:
                    added[key] = form
        elif msgid not in catalog:
            added[msgid] = msgstr
    for key, value in added.items():
        catalog[key] = value
    yield entries
    for key in added:
        for part in catalog._catalogs:
            part.pop(key, None)


def test_the_page_and_the_list_render_in_chinese(world, personas, client_for, pending_zh):
    with translation.override("zh-hans"):
        body = _body(client_for(personas.alice).get(_detail(world)))
    assert '<html lang="zh-hans">' in body
    for text in (
        "移至 方案报价",
        "标记为已完成",
        "赢单关闭",
        "输单关闭",
        "阶段历史",
        "决策人",
        "决策人：尚未填写",
        "必填事项未完成",
    ):
        assert text in body, text
    assert "Mark as done" not in body and "Stage history" not in body
    with translation.override("zh-hans"):
        body = _body(client_for(personas.alice).get(_url("sales_opportunity_list")))
    assert "新建商机" in body and "导出 CSV" in body


def test_every_string_of_the_area_has_a_chinese_translation(pending_zh):
    """Each msgid used by this area's templates and Python is in the catalogue or the pending file."""
    root = Path(settings.BASE_DIR) / "steelyard" / "sales"
    sources = [
        *root.glob("templates/sales/opportunities/*.html"),
        root / "services" / "opportunities.py",
        root / "views" / "opportunities.py",
        root / "forms_opportunities.py",
        root / "filters.py",
        root / "registrations" / "opportunities.py",
        root / "selectors" / "opportunities.py",
    ]
    patterns = [
        r'\{% translate "((?:[^"\\]|\\.)*)"',
        r"\{% translate '((?:[^'\\]|\\.)*)'",
        r'\b_\(\s*"((?:[^"\\]|\\.)*)"',
        r"\{% blocktranslate[^%]*%\}(.*?)\{% (?:endblocktranslate|plural)",
    ]
    missing = []
    with translation.override("zh-hans"):
        for path in sources:
            text = path.read_text(encoding="utf-8")
            for pattern in patterns:
                for msgid in re.findall(pattern, text, flags=re.S):
                    if not msgid or "{%" in msgid:
                        continue
                    msgid = re.sub(r"\{\{ *(\w+) *\}\}", r"%(\1)s", msgid) if "{{" in msgid else msgid
                    if translation.gettext(msgid) == msgid and msgid not in pending_zh:
                        missing.append(f"{path.name}: {msgid}")
    assert missing == []


def test_the_manager_reads_and_approves_the_gate_request_on_the_approval_page(world, personas, client_for):
    result = services.opportunity_stage_move(
        actor=personas.alice,
        opportunity=world.opp,
        to_stage="proposal",
        request_approval=True,
        reason="本周必须报价",
    )
    url = reverse("approval_detail", args=[result.approval.pk])
    body = _body(client_for(personas.bob).get(url))
    assert "方案报价" in body and "关键决策人, 现场调研" in body and "本周必须报价" in body
    assert client_for(personas.charlie).get(url).status_code == 404
    response = client_for(personas.bob).post(
        reverse("approval_decide", args=[result.approval.pk]), {"decision": "approve"}
    )
    assert response.status_code in (200, 302)
    world.opp.refresh_from_db()
    assert world.opp.stage.code == "proposal"
    body = _body(client_for(personas.alice).get(_detail(world)))
    assert "data-approved-past" in body and 'data-visit="proposal"' in body


def test_the_manager_and_the_team_act_on_the_page_the_customers_owner_only_looks(
    world, personas, client_for, engineer
):
    task = world.opp.playbook.stages.get(code="needs").items.get(kind=ItemKind.TASK)
    url = _url("sales_opportunity_checklist", world.opp.pk, task.pk)
    body = _body(client_for(personas.bob).post(url, {"done": "1"}, **HX))
    assert f'data-item="{task.pk}" data-kind="task" data-done="1"' in body
    services.opportunity_member_add(
        actor=personas.alice, opportunity=world.opp, user=engineer, role="solution_engineer"
    )
    body = _body(client_for(engineer).post(url, {"done": ""}, **HX))
    assert f'data-item="{task.pk}" data-kind="task" data-done="0"' in body
    world.own.owner = personas.charlie
    world.own.save(update_fields=["owner"])
    assert client_for(personas.charlie).post(url, {"done": "1"}, **HX).status_code == 403
    assert client_for(personas.charlie).get(_url("sales_opportunity_edit", world.opp.pk)).status_code == 404
    assert not ChecklistEntry.objects.get(opportunity=world.opp, item=task).done
