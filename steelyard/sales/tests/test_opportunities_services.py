"""The opportunity services: create, edit, lines, checklist, the stage gate with its manager approval,
closing and reopening; the forecast cells after every write, the pool hooks and ``opportunity.won``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from steelyard.core import events
from steelyard.core.models import ApprovalRequest, ApprovalStatus, AuditLog
from steelyard.core.services.approvals import approval_decide
from steelyard.customers.models import Customer, DecisionRole
from steelyard.orders.testing import make_product_line
from steelyard.sales.models import (
    ChecklistEntry,
    Competitor,
    ForecastCategory,
    ItemKind,
    Opportunity,
    OpportunityMember,
    OpportunityStatus,
    Playbook,
    PlaybookItem,
    PlaybookStatus,
    StageVisit,
    TeamRole,
)
from steelyard.sales.services import opportunities as services
from steelyard.sales.services.stages import StageGateBlocked
from steelyard.sales.testing import stage_of
from steelyard.sales.tests._opportunities_world import (
    assert_cells_exact,
    build_world,
    complete_to_negotiation,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(personas):
    return build_world(personas)


@pytest.fixture
def won_events(monkeypatch):
    seen = []
    monkeypatch.setattr(events, "_subscribers", list(events._subscribers))
    events.subscribe("test.won", lambda ev: seen.append(ev), wants=lambda t: t == "opportunity.won")
    return seen


def _create(world, actor, **kw):
    kw.setdefault("customer", world.own)
    kw.setdefault("product_line", world.line)
    kw.setdefault("name", "两台门机")
    kw.setdefault("expected_close_date", world.close)
    return services.opportunity_create(actor=actor, **kw)


def _item(world, stage: str, kind: str) -> PlaybookItem:
    return PlaybookItem.objects.get(stage=stage_of(world.playbook, stage), kind=kind)


def _to_needs(world, personas, **kw):
    opp = _create(world, personas.alice, **kw)
    services.opportunity_stage_move(actor=personas.alice, opportunity=opp, to_stage="needs")
    return opp


# --- create ------------------------------------------------------------------------------------------


def test_it_creates_an_opportunity_in_the_first_stage_with_its_team_visit_and_forecast(world, personas):
    opp = _create(
        world,
        personas.alice,
        lines=[
            {"product": world.crane, "quantity": 2},
            {"product": world.option.pk, "parent": 0, "quantity": "2"},
            {"description": "三年维保", "kind": "service", "unit_price": "30000"},
        ],
        source="exhibition",
    )
    opp.refresh_from_db()
    assert opp.number == f"OPP-{timezone.localdate().year}-{opp.pk:06d}"
    assert opp.stage.code == "qualify" and opp.playbook == world.playbook
    assert opp.probability == Decimal("10") and opp.forecast_category == ForecastCategory.PIPELINE
    assert opp.amount == Decimal("2400000") + Decimal("170001.00") + Decimal("30000")
    assert not opp.amount_is_manual
    assert opp.weighted_amount == Decimal("260000.10")
    assert opp.owner == personas.alice and opp.org_unit == personas.alice.org_unit
    lines = list(opp.lines.order_by("order"))
    assert [line.kind for line in lines] == ["machine", "option", "service"]
    assert lines[1].parent_id == lines[0].pk and lines[1].unit_price == Decimal("85000.50")
    assert OpportunityMember.objects.filter(
        opportunity=opp, user=personas.alice, role=TeamRole.OWNER
    ).exists()
    assert (
        StageVisit.objects.filter(opportunity=opp, stage__code="qualify", left_at__isnull=True).count() == 1
    )
    assert opp.history.count() == 1 and opp.history.first().number == opp.number
    assert AuditLog.objects.filter(verb="sales.opportunity_created", object_id=str(opp.pk)).exists()
    assert "single_threaded" in opp.flags  # the risk flags were refreshed
    assert_cells_exact()


def test_creating_tells_the_public_pool(world, personas):
    before = timezone.now()
    _create(world, personas.alice)
    customer = Customer.objects.get(pk=world.own.pk)
    assert customer.has_open_opportunity
    assert customer.last_opportunity_at >= before


def test_an_amount_given_by_hand_wins_over_the_lines(world, personas):
    opp = _create(world, personas.alice, amount=Decimal("999"), lines=[{"product": world.crane}])
    assert opp.amount == Decimal("999") and opp.amount_is_manual
    services.opportunity_update(actor=personas.alice, opportunity=opp, amount=None)
    assert opp.amount == Decimal("1200000.00") and not opp.amount_is_manual
    assert_cells_exact()


def test_a_rep_creates_only_on_customers_they_may_change(world, personas):
    with pytest.raises(PermissionDenied):
        _create(world, personas.charlie)  # alice's customer
    with pytest.raises(PermissionDenied):
        _create(world, personas.alice, customer=world.other)
    _create(world, personas.bob)  # her manager may
    assert Opportunity.objects.count() == 1


def test_it_refuses_a_line_without_a_playbook_and_bad_values(world, personas):
    engine = make_product_line("ENGINE")
    default = Playbook.objects.filter(product_line__isnull=True, status=PlaybookStatus.ACTIVE).first()
    if default is not None:  # a line without its own playbook starts on the default one
        assert _create(world, personas.alice, product_line=engine).playbook == default
        Opportunity.objects.all().delete()
        Playbook.objects.filter(pk=default.pk).update(status=PlaybookStatus.RETIRED)
    with pytest.raises(ValidationError) as e:
        _create(world, personas.alice, product_line=engine)
    assert "product_line" in e.value.message_dict
    with pytest.raises(ValidationError) as e:
        _create(world, personas.alice, name=" ", expected_close_date=None)
    assert {"name", "expected_close_date"} <= set(e.value.message_dict)
    with pytest.raises(ValidationError) as e:
        _create(world, personas.alice, lines=[{"product": world.crane, "quantity": 0}, {"parent": 5}])
    assert "lines" in e.value.message_dict and len(e.value.message_dict["lines"]) == 2
    assert Opportunity.objects.count() == 0


def test_only_a_manager_creates_for_somebody_else(world, personas):
    with pytest.raises(ValidationError) as e:
        _create(world, personas.alice, owner=personas.bob)
    assert "owner" in e.value.message_dict
    opp = _create(world, personas.bob, owner=personas.alice)
    assert opp.owner == personas.alice
    with pytest.raises(ValidationError):
        _create(world, personas.bob, owner=personas.charlie)  # not one of his people


# --- the gate ------------------------------------------------------------------------------------------


def test_the_gate_blocks_moving_on_with_required_items_missing(world, personas):
    opp = _to_needs(world, personas)
    with pytest.raises(StageGateBlocked) as e:
        services.opportunity_stage_move(actor=personas.alice, opportunity=opp, to_stage="proposal")
    assert [m.label for m in e.value.missing] == ["关键决策人", "现场调研"]
    opp.refresh_from_db()
    assert opp.stage.code == "needs"
    # skipping ahead is gated by every stage left behind
    with pytest.raises(StageGateBlocked) as e:
        services.opportunity_stage_move(actor=personas.alice, opportunity=opp, to_stage="negotiation")
    assert [m.label for m in e.value.missing] == ["关键决策人", "现场调研", "报价单", "技术方案"]
    # ... and so is closing as won
    with pytest.raises(StageGateBlocked):
        services.opportunity_close(actor=personas.alice, opportunity=opp, outcome="won")
    with pytest.raises(StageGateBlocked):
        services.opportunity_stage_move(actor=personas.alice, opportunity=opp, to_stage="won")


def test_the_gate_opens_once_the_items_are_done(world, personas):
    opp = _to_needs(world, personas)
    services.opportunity_contact_set(
        actor=personas.alice, opportunity=opp, contact=world.boss, role=DecisionRole.DECISION_MAKER
    )
    services.checklist_set(
        actor=personas.alice, opportunity=opp, item=_item(world, "needs", ItemKind.TASK), done=True
    )
    result = services.opportunity_stage_move(actor=personas.alice, opportunity=opp, to_stage="proposal")
    assert result.moved and result.approval is None
    assert opp.stage.code == "proposal" and opp.probability == Decimal("40")
    assert opp.forecast_category == ForecastCategory.BEST_CASE
    visits = list(StageVisit.objects.filter(opportunity=opp).order_by("entered_at", "id"))
    assert [v.stage.code for v in visits] == ["qualify", "needs", "proposal"]
    assert all(v.left_at for v in visits[:2]) and visits[2].left_at is None
    assert visits[2].approval is None and visits[2].missing == []
    assert_cells_exact()


def test_the_gate_passes_with_a_managers_approval(world, personas):
    opp = _to_needs(world, personas)
    with pytest.raises(ValidationError) as e:  # a request needs a reason
        services.opportunity_stage_move(
            actor=personas.alice, opportunity=opp, to_stage="proposal", request_approval=True
        )
    assert "reason" in e.value.message_dict
    result = services.opportunity_stage_move(
        actor=personas.alice,
        opportunity=opp,
        to_stage="proposal",
        request_approval=True,
        reason="客户总经理出差，下周补调研，报价必须本周发出",
    )
    assert not result.moved and [m.label for m in result.missing] == ["关键决策人", "现场调研"]
    request = result.approval
    assert request.kind == "sales.stage_gate" and request.status == ApprovalStatus.PENDING
    assert request.requested_change["missing"] == ["关键决策人", "现场调研"]
    assert [s.approver for s in request.steps.all()] == [personas.bob]
    opp.refresh_from_db()
    assert opp.stage.code == "needs"  # nothing moves before the decision
    with pytest.raises(PermissionDenied):
        approval_decide(actor=personas.charlie, request=request, decision="approve")

    approval_decide(actor=personas.bob, request=request, decision="approve", comment="同意，尽快补齐")
    opp.refresh_from_db()
    assert opp.stage.code == "proposal" and opp.probability == Decimal("40")
    visit = StageVisit.objects.get(opportunity=opp, left_at__isnull=True)
    assert visit.stage.code == "proposal" and visit.approval == request
    assert visit.missing == ["关键决策人", "现场调研"] and visit.entered_by == personas.alice
    assert AuditLog.objects.filter(verb="sales.opportunity_stage_moved", object_id=str(opp.pk)).count() == 2
    assert_cells_exact()


def test_a_rejected_gate_request_moves_nothing(world, personas):
    opp = _to_needs(world, personas)
    result = services.opportunity_stage_move(
        actor=personas.alice, opportunity=opp, to_stage="proposal", request_approval=True, reason="急"
    )
    approval_decide(actor=personas.bob, request=result.approval, decision="reject", comment="先做调研")
    opp.refresh_from_db()
    assert opp.stage.code == "needs"


def test_an_approval_to_close_as_won_closes_the_deal(world, personas, won_events):
    opp = _to_needs(world, personas)
    result = services.opportunity_stage_move(
        actor=personas.alice,
        opportunity=opp,
        to_stage="won",
        request_approval=True,
        reason="客户已签合同",
        close_reason="relationship",
    )
    approval_decide(actor=personas.bob, request=result.approval, decision="approve")
    opp.refresh_from_db()
    assert opp.status == OpportunityStatus.WON and opp.close_reason == "relationship"
    assert len(won_events) == 1
    assert StageVisit.objects.get(opportunity=opp, stage__code="won").approval == result.approval
    assert_cells_exact()


def test_moving_back_has_no_gate(world, personas):
    opp = _to_needs(world, personas)
    services.opportunity_stage_move(actor=personas.alice, opportunity=opp, to_stage="qualify")
    assert opp.stage.code == "qualify" and opp.probability == Decimal("10")
    with pytest.raises(ValidationError):
        services.opportunity_stage_move(actor=personas.alice, opportunity=opp, to_stage="qualify")
    with pytest.raises(ValidationError):
        services.opportunity_stage_move(actor=personas.alice, opportunity=opp, to_stage="nope")


# --- closing, reopening, the pool and the event ---------------------------------------------------------


def test_winning_publishes_the_event_and_frees_the_customer_from_the_pool_rule(world, personas, won_events):
    opp = _create(world, personas.alice, lines=[{"product": world.crane, "quantity": 2}])
    complete_to_negotiation(world, personas.alice, opp)
    assert opp.stage.code == "negotiation" and opp.forecast_category == ForecastCategory.COMMIT
    services.opportunity_close(
        actor=personas.alice, opportunity=opp, outcome="won", reason="product", note="技术方案领先"
    )
    opp.refresh_from_db()
    assert opp.status == OpportunityStatus.WON and opp.closed_on == timezone.localdate()
    assert opp.stage.code == "won" and opp.forecast_category == ForecastCategory.CLOSED_WON
    assert opp.weighted_amount == opp.amount == Decimal("2400000.00")
    (event,) = won_events
    assert event.subject == opp and event.actor == personas.alice
    assert event.payload == {
        "opportunity_id": opp.pk,
        "number": opp.number,
        "name": "两台门机",
        "customer_id": world.own.pk,
        "product_line": "CRANE",
        "amount": "2400000.00",
        "currency": "CNY",
        "closed_on": timezone.localdate().isoformat(),
        "owner": {"id": personas.alice.pk, "username": "alice", "name": str(personas.alice)},
    }
    assert not Customer.objects.get(pk=world.own.pk).has_open_opportunity
    assert opp.flags == []
    assert_cells_exact()


def test_the_customer_keeps_the_open_flag_while_another_deal_is_open(world, personas):
    a = _create(world, personas.alice)
    _create(world, personas.alice, name="第二个商机")
    services.opportunity_close(actor=personas.alice, opportunity=a, outcome="lost", reason="price")
    assert Customer.objects.get(pk=world.own.pk).has_open_opportunity


def test_losing_needs_a_reason_and_may_name_the_winner(world, personas):
    opp = _create(world, personas.alice)
    with pytest.raises(ValidationError) as e:
        services.opportunity_close(actor=personas.alice, opportunity=opp, outcome="lost")
    assert "close_reason" in e.value.message_dict
    with pytest.raises(ValidationError) as e:
        services.opportunity_stage_move(actor=personas.alice, opportunity=opp, to_stage="lost")
    assert "close_reason" in e.value.message_dict
    with pytest.raises(ValidationError):
        services.opportunity_close(
            actor=personas.alice,
            opportunity=opp,
            outcome="lost",
            reason="price",
            closed_on=timezone.localdate() + dt.timedelta(days=1),
        )
    services.opportunity_stage_move(
        actor=personas.alice, opportunity=opp, to_stage="lost", close_reason="price", lost_to="三一重工"
    )
    opp.refresh_from_db()
    assert opp.status == OpportunityStatus.LOST and opp.lost_to == Competitor.objects.get(name="三一重工")
    assert opp.weighted_amount == Decimal("0.00") and opp.probability == Decimal("0")
    assert not Customer.objects.get(pk=world.own.pk).has_open_opportunity
    assert_cells_exact()


def test_reopening_goes_back_to_the_last_open_stage(world, personas):
    opp = _to_needs(world, personas)
    services.opportunity_close(actor=personas.alice, opportunity=opp, outcome="lost", reason="price")
    member = personas.dora  # a director above, not the owner
    with pytest.raises(ValidationError):
        services.opportunity_close(actor=personas.alice, opportunity=opp, outcome="lost", reason="price")
    services.opportunity_reopen(actor=member, opportunity=opp, reason="客户重新招标")
    opp.refresh_from_db()
    assert opp.status == OpportunityStatus.OPEN and opp.stage.code == "needs"
    assert opp.closed_on is None and opp.close_reason == "" and opp.probability == Decimal("20")
    assert Customer.objects.get(pk=world.own.pk).has_open_opportunity
    assert StageVisit.objects.filter(opportunity=opp, left_at__isnull=True).get().stage.code == "needs"
    assert_cells_exact()


def test_a_team_member_works_the_deal_but_does_not_reopen_it(world, personas, django_user_model):
    engineer = django_user_model.objects.create(
        username="eva", display_name="Eva", org_unit=personas.beijing, is_active=True
    )
    opp = _create(world, personas.alice)
    assert not Opportunity.objects.visible_to(engineer).filter(pk=opp.pk).exists()
    services.opportunity_member_add(
        actor=personas.alice, opportunity=opp, user=engineer, role=TeamRole.SOLUTION_ENGINEER
    )
    assert Opportunity.objects.visible_to(engineer, "change").filter(pk=opp.pk).exists()
    services.opportunity_update(actor=engineer, opportunity=opp, next_step="提交技术方案")
    services.opportunity_close(actor=personas.alice, opportunity=opp, outcome="lost", reason="price")
    with pytest.raises(PermissionDenied):
        services.opportunity_reopen(actor=engineer, opportunity=opp)


def test_an_outsider_changes_nothing(world, personas):
    opp = _create(world, personas.alice)
    for call in (
        lambda: services.opportunity_update(actor=personas.charlie, opportunity=opp, name="x"),
        lambda: services.opportunity_stage_move(actor=personas.charlie, opportunity=opp, to_stage="needs"),
        lambda: services.opportunity_close(
            actor=personas.charlie, opportunity=opp, outcome="lost", reason="price"
        ),
        lambda: services.checklist_set(
            actor=personas.charlie, opportunity=opp, item=_item(world, "needs", ItemKind.TASK), done=True
        ),
        lambda: services.opportunity_member_add(
            actor=personas.charlie, opportunity=opp, user=personas.charlie, role=TeamRole.OTHER
        ),
    ):
        with pytest.raises(PermissionDenied):
            call()
    # the customer's owner only looks: a rep who owns the customer but not the deal
    opp.customer.owner = personas.charlie
    Customer.objects.filter(pk=opp.customer_id).update(owner=personas.charlie)
    assert Opportunity.objects.visible_to(personas.charlie).filter(pk=opp.pk).exists()
    with pytest.raises(PermissionDenied):
        services.opportunity_update(actor=personas.charlie, opportunity=opp, name="x")


# --- edits and the forecast -------------------------------------------------------------------------------


def test_the_forecast_cells_follow_every_write(world, personas):
    opp = _create(world, personas.alice, lines=[{"product": world.crane}])
    assert_cells_exact()
    steps = [
        lambda: services.opportunity_update(actor=personas.alice, opportunity=opp, amount="1500000.555"),
        lambda: services.opportunity_update(actor=personas.alice, opportunity=opp, probability="33.33"),
        lambda: services.opportunity_update(
            actor=personas.alice, opportunity=opp, forecast_category="commit"
        ),
        lambda: services.opportunity_update(
            actor=personas.alice, opportunity=opp, expected_close_date=world.close + dt.timedelta(days=62)
        ),
        lambda: services.opportunity_update(actor=personas.alice, opportunity=opp, amount=None),
        lambda: services.opportunity_lines_set(
            actor=personas.alice,
            opportunity=opp,
            lines=[{"product": world.crane, "quantity": 3}, {"product": world.option, "parent": 0}],
        ),
        lambda: services.opportunity_stage_move(actor=personas.alice, opportunity=opp, to_stage="needs"),
        lambda: services.opportunity_update(actor=personas.alice, opportunity=opp, probability=None),
        lambda: services.opportunity_update(actor=personas.bob, opportunity=opp, owner=personas.bob),
        lambda: services.opportunity_close(
            actor=personas.bob, opportunity=opp, outcome="lost", reason="price"
        ),
        lambda: services.opportunity_reopen(actor=personas.bob, opportunity=opp),
        lambda: services.opportunity_stage_move(
            actor=personas.bob, opportunity=opp, to_stage="proposal", request_approval=True, reason="急"
        ),
    ]
    for step in steps:
        step()
        assert_cells_exact()
    opp.refresh_from_db()
    assert opp.owner == personas.bob and opp.org_unit == personas.bob.org_unit
    assert opp.amount == Decimal("3685000.50")
    # closing cleared the values set by hand: reopened, the deal takes its stage's again
    assert opp.forecast_category == ForecastCategory.PIPELINE and not opp.forecast_category_is_manual
    assert opp.probability == Decimal("20")
    assert list(
        OpportunityMember.objects.filter(opportunity=opp, role="owner").values_list("user", flat=True)
    ) == [personas.bob.pk]


def test_manual_overrides_and_closed_deals(world, personas):
    opp = _create(world, personas.alice)
    services.opportunity_update(actor=personas.alice, opportunity=opp, probability="55")
    services.opportunity_stage_move(actor=personas.alice, opportunity=opp, to_stage="needs")
    assert opp.probability == Decimal("55") and opp.probability_is_manual
    with pytest.raises(ValidationError):
        services.opportunity_update(actor=personas.alice, opportunity=opp, forecast_category="won")
    with pytest.raises(ValidationError):
        services.opportunity_update(actor=personas.alice, opportunity=opp, probability="120")
    with pytest.raises(ValidationError):
        services.opportunity_update(actor=personas.alice, opportunity=opp, colour="red")
    with pytest.raises(ValidationError):
        services.opportunity_update(
            actor=personas.alice, opportunity=opp, owner=personas.bob
        )  # not a manager
    services.opportunity_close(actor=personas.alice, opportunity=opp, outcome="lost", reason="price")
    with pytest.raises(ValidationError):
        services.opportunity_update(actor=personas.alice, opportunity=opp, amount="5")
    services.opportunity_update(actor=personas.alice, opportunity=opp, description="客户预算被砍")
    assert opp.description == "客户预算被砍"


# --- checklist, competitors, contacts, team -----------------------------------------------------------------


def test_a_document_item_takes_a_file_and_a_field_item_cannot_be_ticked(world, personas):
    opp = _create(world, personas.alice)
    doc = _item(world, "proposal", ItemKind.DOCUMENT)
    with pytest.raises(ValidationError) as e:
        services.checklist_set(actor=personas.alice, opportunity=opp, item=doc, done=True)
    assert "file" in e.value.message_dict
    pdf = SimpleUploadedFile("技术方案.pdf", b"%PDF-1.4\n%test\n", content_type="application/pdf")
    entry = services.checklist_set(
        actor=personas.alice, opportunity=opp, item=doc, done=False, uploaded_file=pdf
    )
    assert entry.done and entry.attachment.filename == "技术方案.pdf" and entry.done_by == personas.alice
    assert entry.attachment.object_id == str(opp.pk)
    with pytest.raises(ValidationError):
        services.checklist_set(
            actor=personas.alice, opportunity=opp, item=_item(world, "needs", ItemKind.FIELD), done=True
        )
    other_line = make_product_line("ENGINE")
    from steelyard.sales.testing import make_playbook

    foreign = make_playbook(other_line).stages.get(code="needs").items.first()
    with pytest.raises(ValidationError):
        services.checklist_set(actor=personas.alice, opportunity=opp, item=foreign, done=True)
    task = _item(world, "needs", ItemKind.TASK)
    services.checklist_set(actor=personas.alice, opportunity=opp, item=task, done=True, note="已去现场")
    services.checklist_set(actor=personas.alice, opportunity=opp, item=task, done=False)
    entry = ChecklistEntry.objects.get(opportunity=opp, item=task)
    assert not entry.done and entry.done_by is None
    assert AuditLog.objects.filter(verb="sales.checklist_set", object_id=str(opp.pk)).count() == 3


def test_competitors_contacts_and_the_team(world, personas):
    opp = _create(world, personas.alice)
    row = services.opportunity_competitor_set(
        actor=personas.alice, opportunity=opp, competitor="徐工", strengths="价格低", threat="high"
    )
    assert row.competitor.name == "徐工"
    services.opportunity_competitor_set(
        actor=personas.alice, opportunity=opp, competitor="徐工", weaknesses="交期长"
    )
    assert opp.competitors.get().weaknesses == "交期长" and Competitor.objects.count() == 1
    assert "competitor" not in Opportunity.objects.get(pk=opp.pk).flags  # medium now
    services.opportunity_competitor_remove(
        actor=personas.alice, opportunity=opp, competitor=row.competitor_id
    )
    assert not opp.competitors.exists()

    with pytest.raises(ValidationError):  # a contact of another customer
        other_contact = world.other.contacts.create(name="张三")
        services.opportunity_contact_set(
            actor=personas.alice, opportunity=opp, contact=other_contact, role=DecisionRole.TECHNICAL
        )
    services.opportunity_contact_set(
        actor=personas.alice,
        opportunity=opp,
        contact=world.boss,
        role=DecisionRole.DECISION_MAKER,
        attitude="champion",
    )
    services.opportunity_contact_set(
        actor=personas.alice, opportunity=opp, contact=world.buyer, role=DecisionRole.PROCUREMENT
    )
    assert "single_threaded" not in Opportunity.objects.get(pk=opp.pk).flags
    services.opportunity_contact_remove(actor=personas.alice, opportunity=opp, contact=world.buyer)
    assert opp.contacts.count() == 1

    owner_member = OpportunityMember.objects.get(opportunity=opp, role=TeamRole.OWNER)
    with pytest.raises(ValidationError):
        services.opportunity_member_remove(actor=personas.alice, opportunity=opp, member=owner_member)
    with pytest.raises(ValidationError):
        services.opportunity_member_add(
            actor=personas.alice, opportunity=opp, user=personas.bob, role="owner"
        )
    member = services.opportunity_member_add(
        actor=personas.alice, opportunity=opp, user=personas.charlie, role=TeamRole.DELIVERY_MANAGER
    )
    assert Opportunity.objects.visible_to(personas.charlie).filter(pk=opp.pk).exists()
    services.opportunity_member_remove(actor=personas.alice, opportunity=opp, member=member)
    assert not Opportunity.objects.visible_to(personas.charlie).filter(pk=opp.pk).exists()


def test_touch_only_moves_the_activity_clock_forward(world, personas):
    opp = _create(world, personas.alice)
    later = timezone.now() + dt.timedelta(hours=1)
    services.opportunity_touch(opp, at=later)
    services.opportunity_touch(opp, at=later - dt.timedelta(days=3))
    assert Opportunity.objects.get(pk=opp.pk).last_activity_at == later


def test_a_leaving_reps_open_deals_move_with_the_bulk_reassignment(world, personas):
    opp = _create(world, personas.alice)
    closed = _create(world, personas.alice, name="旧商机")
    services.opportunity_close(actor=personas.alice, opportunity=closed, outcome="lost", reason="price")
    assert (
        services.opportunities_reassign_bulk(
            actor=personas.bob, from_user=personas.alice, to_user=personas.bob
        )
        == 1
    )
    opp.refresh_from_db()
    closed.refresh_from_db()
    assert opp.owner == personas.bob and closed.owner == personas.alice
    assert_cells_exact()


def test_approvals_are_listed_for_the_approver(world, personas):
    opp = _to_needs(world, personas)
    services.opportunity_stage_move(
        actor=personas.alice, opportunity=opp, to_stage="proposal", request_approval=True, reason="急"
    )
    assert ApprovalRequest.objects.filter(kind="sales.stage_gate", status="pending").count() == 1
    with pytest.raises(ValidationError):  # one pending request at a time
        services.opportunity_stage_move(
            actor=personas.alice, opportunity=opp, to_stage="proposal", request_approval=True, reason="再急"
        )
