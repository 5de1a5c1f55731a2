"""Quote services: prices and numbering, the tier's discount limit and its approval, the credit check at
quote time, send/accept (contract, ``contract.signed`` to the ERP, opportunity won), reject, revise, expiry,
and who may change a quote."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from steelyard.core.models import ApprovalRequest, ApprovalStatus, AuditLog
from steelyard.core.services.approvals import approval_cancel, approval_decide
from steelyard.orders.models import Contract, ContractStatus
from steelyard.orders.tests._o2c import book
from steelyard.sales.models import Opportunity, OpportunityStatus, Quote, QuoteStatus, RiskFlag
from steelyard.sales.services import quotes as svc
from steelyard.sales.tests.quotes_world import line_dicts, make_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(personas):
    return make_world(personas)


@pytest.fixture
def events(monkeypatch):
    from steelyard.core import events as events_module

    monkeypatch.setattr(events_module, "_subscribers", list(events_module._subscribers))
    seen: list = []
    events_module.subscribe("tests.sales.quotes", seen.append)
    return seen


def _quote(personas, world, **kw):
    return svc.quote_create(actor=personas.alice, opportunity=world.opportunity, **kw)


# --- prices and numbers -------------------------------------------------------------------------------------


def test_it_copies_the_opportunitys_lines_at_list_price_and_numbers_the_quote(personas, world):
    quote = _quote(personas, world)
    year = timezone.localdate().year
    assert quote.number == f"Q-{year}-{quote.pk:06d}" and quote.revision == 1
    assert quote.status == QuoteStatus.DRAFT and quote.customer == world.customer
    lines = list(quote.lines.order_by("order"))
    assert [(ln.product, ln.quantity, ln.list_price, ln.discount_pct) for ln in lines] == [
        (world.crane, Decimal("2.00"), Decimal("1000000.00"), Decimal("0")),
        (world.hoist, Decimal("1.00"), Decimal("500000.00"), Decimal("0")),
    ]
    assert lines[0].unit == "台" and lines[0].description == world.crane.name
    assert quote.list_total == quote.net_total == Decimal("2500000.00")
    # The strategy snapshot: tier A allows 10% without approval.
    assert quote.tier == "A" and quote.max_discount_pct == Decimal("10.00")
    assert quote.valid_until == timezone.localdate() + dt.timedelta(days=30)
    assert AuditLog.objects.filter(verb=svc.AUDIT_CREATED, object_id=str(quote.pk)).exists()


def test_a_line_without_a_product_price_takes_the_opportunity_lines_unit_price(personas, world):
    world.hoist.list_price = Decimal("0")
    world.hoist.save()
    quote = _quote(personas, world)
    assert quote.lines.get(product=world.hoist).list_price == Decimal("500000.00")


def test_net_price_amount_totals_and_the_largest_line_discount(personas, world):
    quote = _quote(personas, world)
    lines = line_dicts(quote, l0={"discount_pct": "12.5"}, l1={"discount_pct": "3", "quantity": "3"})
    quote = svc.quote_lines_set(actor=personas.alice, quote=quote, lines=lines)
    crane, hoist = quote.lines.order_by("order")
    assert crane.net_price == Decimal("875000.00") and crane.amount == Decimal("1750000.00")
    assert hoist.net_price == Decimal("485000.00") and hoist.amount == Decimal("1455000.00")
    assert quote.list_total == Decimal("3500000.00")  # 2 × 1,000,000 + 3 × 500,000
    assert quote.net_total == Decimal("3205000.00")
    assert quote.discount_pct == Decimal("12.50")  # the largest line discount, not the overall one
    assert svc.overall_discount(quote.list_total, quote.net_total) == Decimal("8.43")  # 1 − 3205/3500
    # Net prices round half up to the cent.
    assert svc.net_price(Decimal("999.99"), Decimal("33.33")) == Decimal("666.69")


def test_bad_lines_are_refused_with_the_line_and_field_named(personas, world):
    quote = _quote(personas, world)
    bad = [
        {"product": world.crane.pk, "quantity": "0", "discount_pct": "5"},
        {"description": "", "quantity": "1", "list_price": "10"},
        {"product": world.hoist.pk, "quantity": "1", "discount_pct": "120"},
        {"product": 999999, "quantity": "1"},
        {"description": "安装调试", "quantity": "x", "list_price": "-1"},
    ]
    with pytest.raises(ValidationError) as e:
        svc.quote_lines_set(actor=personas.alice, quote=quote, lines=bad)
    keys = set(e.value.message_dict)
    assert keys == {
        "lines.0.quantity",
        "lines.1.description",
        "lines.2.discount_pct",
        "lines.3.product",
        "lines.4.quantity",
        "lines.4.list_price",
    }
    assert quote.lines.count() == 2  # nothing changed


# --- the discount limit -------------------------------------------------------------------------------------


def test_a_discount_within_the_tier_limit_is_approved_at_once_without_a_request(personas, world):
    quote = _quote(personas, world)
    svc.quote_lines_set(actor=personas.alice, quote=quote, lines=line_dicts(quote, l0={"discount_pct": "10"}))
    quote = svc.quote_submit(actor=personas.alice, quote=Quote.objects.get(pk=quote.pk))
    assert quote.status == QuoteStatus.APPROVED and quote.approval is None
    assert not ApprovalRequest.objects.filter(kind=svc.KIND_DISCOUNT).exists()


def test_a_discount_above_the_limit_waits_for_the_menus_approval_chain(personas, world):
    quote = _quote(personas, world)
    svc.quote_lines_set(
        actor=personas.alice, quote=quote, lines=line_dicts(quote, l1={"discount_pct": "10.01"})
    )
    quote = svc.quote_submit(
        actor=personas.alice, quote=Quote.objects.get(pk=quote.pk), reason="竞争对手报价更低"
    )
    assert quote.status == QuoteStatus.PENDING
    request = quote.approval
    assert request.kind == svc.KIND_DISCOUNT and request.status == ApprovalStatus.PENDING
    assert request.content_type == ContentType.objects.get_for_model(Quote) and request.object_id == str(
        quote.pk
    )
    assert request.reason == "竞争对手报价更低" and request.requester == personas.alice
    # The chain of tier A: sales manager (bob, alice's team), then sales director (dora).
    assert [(s.rule, s.approver) for s in request.steps.order_by("order")] == [
        ({"type": "role", "role": "sales_manager"}, personas.bob),
        ({"type": "role", "role": "sales_director"}, personas.dora),
    ]
    assert request.requested_change["discount_pct"] == "10.01"
    assert request.requested_change["max_discount_pct"] == "10.00"
    # The opportunity carries the discount flag while it waits.
    assert RiskFlag.DISCOUNT in Opportunity.objects.get(pk=world.opportunity.pk).flags
    # Nothing can be sent before approval.
    with pytest.raises(ValidationError):
        svc.quote_send(actor=personas.alice, quote=quote)

    approval_decide(actor=personas.bob, request=request, decision="approve")
    assert Quote.objects.get(pk=quote.pk).status == QuoteStatus.PENDING  # one more step
    approval_decide(actor=personas.dora, request=request, decision="approve", comment="同意")
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.APPROVED
    assert RiskFlag.DISCOUNT not in Opportunity.objects.get(pk=world.opportunity.pk).flags
    quote = svc.quote_send(actor=personas.alice, quote=quote)
    assert quote.status == QuoteStatus.SENT and quote.sent_at is not None


def test_a_rejected_or_withdrawn_discount_puts_the_quote_back_to_draft(personas, world):
    quote = _quote(personas, world)
    svc.quote_lines_set(actor=personas.alice, quote=quote, lines=line_dicts(quote, l0={"discount_pct": "15"}))
    quote = svc.quote_submit(actor=personas.alice, quote=Quote.objects.get(pk=quote.pk))
    approval_decide(actor=personas.bob, request=quote.approval, decision="reject", comment="折扣过高")
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.DRAFT
    # Submitted again, then withdrawn by the rep.
    quote = svc.quote_submit(actor=personas.alice, quote=quote)
    assert quote.status == QuoteStatus.PENDING
    quote = svc.quote_withdraw(actor=personas.alice, quote=quote)
    assert quote.status == QuoteStatus.DRAFT
    assert quote.approval.status == ApprovalStatus.CANCELLED
    # Only the requester withdraws.
    quote = svc.quote_submit(actor=personas.alice, quote=quote)
    with pytest.raises(PermissionDenied):
        svc.quote_withdraw(actor=personas.bob, quote=quote)
    approval_cancel(actor=personas.alice, request=quote.approval)  # the approvals page does the same
    assert Quote.objects.get(pk=quote.pk).status == QuoteStatus.DRAFT


def test_without_a_chain_in_the_menu_the_reps_manager_approves(personas):
    world = make_world(personas, tier="")  # untiered: 5% without approval, no chain
    quote = svc.quote_create(actor=personas.alice, opportunity=world.opportunity)
    assert quote.max_discount_pct == Decimal("5.00") and quote.tier == ""
    svc.quote_lines_set(actor=personas.alice, quote=quote, lines=line_dicts(quote, l0={"discount_pct": "6"}))
    quote = svc.quote_submit(actor=personas.alice, quote=Quote.objects.get(pk=quote.pk))
    assert [s.approver for s in quote.approval.steps.all()] == [personas.bob]


def test_the_limit_in_force_when_submitted_decides(personas, world):
    from steelyard.tiering.tests.strategy_testing import clear_menus, make_menu

    quote = _quote(personas, world)
    svc.quote_lines_set(actor=personas.alice, quote=quote, lines=line_dicts(quote, l0={"discount_pct": "12"}))
    clear_menus()
    make_menu(2, {"A": {"max_discount_pct": "15", "approval_chain": ["sales_manager"]}})
    quote = svc.quote_submit(actor=personas.alice, quote=Quote.objects.get(pk=quote.pk))
    assert quote.status == QuoteStatus.APPROVED and quote.max_discount_pct == Decimal("15.00")


def test_a_draft_needs_lines_and_a_price_to_be_submitted(personas, world):
    quote = svc.quote_create(actor=personas.alice, opportunity=world.opportunity, lines=[])
    with pytest.raises(ValidationError) as e:
        svc.quote_submit(actor=personas.alice, quote=quote)
    assert svc.ERR_NO_LINES in e.value.messages


# --- the credit check -----------------------------------------------------------------------------------------


def test_the_credit_check_warns_at_quote_time_when_exposure_passes_the_limit(personas):
    world = make_world(personas, credit_limit="3000000")
    book(world.customer)  # outstanding 649,999.75 and open orders 1,500,000 (see _o2c)
    q = svc.quote_create(
        actor=personas.alice,
        opportunity=world.opportunity,
        lines=[{"product": world.crane.pk, "quantity": "1", "list_price": "900000"}],
    )
    assert q.credit["limit"] == "3000000.00"
    assert q.credit["outstanding"] == "649999.75" and q.credit["open_orders"] == "1500000.00"
    assert q.credit["quote"] == "900000.00" and q.credit["exposure"] == "3049999.75"
    assert q.credit["over"] is True
    assert RiskFlag.CREDIT in Opportunity.objects.get(pk=world.opportunity.pk).flags
    # A smaller price brings it under: checked again on every price change.
    q = svc.quote_lines_set(
        actor=personas.alice,
        quote=q,
        lines=[{"product": world.crane.pk, "quantity": "1", "list_price": "800000"}],
    )
    assert q.credit["exposure"] == "2949999.75" and q.credit["over"] is False
    assert RiskFlag.CREDIT not in Opportunity.objects.get(pk=world.opportunity.pk).flags


def test_without_a_credit_limit_there_is_no_warning(personas, world):
    book(world.customer)
    quote = _quote(personas, world)
    assert quote.credit["limit"] is None and quote.credit["over"] is False
    assert quote.credit["exposure"] == "4649999.75"  # 649,999.75 + 1,500,000 + 2,500,000


# --- accept, reject, revise, expire ---------------------------------------------------------------------------


def _approved(personas, world):
    quote = _quote(personas, world)
    return svc.quote_submit(actor=personas.alice, quote=quote)


def test_accepting_signs_a_contract_tells_the_erp_and_wins_the_opportunity(personas, world, events):
    from steelyard.integrations.models import WebhookDelivery
    from steelyard.integrations.services.webhooks import webhook_subscription_create
    from steelyard.orders.testing import make_system

    system, _token = make_system("erp", token=False)
    webhook_subscription_create(
        actor=personas.admin, system=system, url="https://erp.example.com/hooks", events=["contract.signed"]
    )
    quote = _quote(personas, world)
    svc.quote_lines_set(actor=personas.alice, quote=quote, lines=line_dicts(quote, l1={"discount_pct": "10"}))
    quote = svc.quote_submit(actor=personas.alice, quote=Quote.objects.get(pk=quote.pk))
    quote = svc.quote_send(actor=personas.alice, quote=quote)
    signed = timezone.localdate() - dt.timedelta(days=1)
    quote = svc.quote_accept(actor=personas.alice, quote=quote, signed_on=signed, reason="price")
    assert quote.status == QuoteStatus.ACCEPTED and quote.decided_at is not None
    contract = quote.contract
    assert contract.number == quote.number.replace("Q-", "C-")
    assert contract.customer == world.customer and contract.amount == quote.net_total == Decimal("2450000.00")
    assert contract.status == ContractStatus.SIGNED and contract.signed_on == signed
    assert contract.signed_by == personas.alice and contract.source == "crm"
    signed_events = [e for e in events if e.type == "contract.signed"]
    assert [e.payload for e in signed_events] == [
        {
            "contract": contract.number,
            "contract_id": contract.pk,
            "customer_id": world.customer.pk,
            "status": "signed",
            "signed_on": signed.isoformat(),
            "amount": "2450000.00",
            "currency": "CNY",
            "source": "crm",
        }
    ]
    delivery = WebhookDelivery.objects.get(event="contract.signed")  # the ERP's subscription gets it
    assert delivery.payload["type"] == "contract.signed"
    assert delivery.payload["data"] == signed_events[0].payload
    opp = Opportunity.objects.get(pk=world.opportunity.pk)
    assert opp.status == OpportunityStatus.WON and opp.closed_on == signed and opp.close_reason == "price"
    assert opp.amount == contract.amount
    assert [e.payload["opportunity_id"] for e in events if e.type == "opportunity.won"] == [opp.pk]


def test_acceptance_is_refused_before_approval_and_after_the_validity_date(personas, world):
    quote = _quote(personas, world)
    with pytest.raises(ValidationError):
        svc.quote_accept(actor=personas.alice, quote=quote)
    quote = svc.quote_submit(actor=personas.alice, quote=quote)
    Quote.objects.filter(pk=quote.pk).update(valid_until=timezone.localdate() - dt.timedelta(days=1))
    with pytest.raises(ValidationError):
        svc.quote_accept(actor=personas.alice, quote=Quote.objects.get(pk=quote.pk))
    assert not Contract.objects.exists()
    assert Opportunity.objects.get(pk=world.opportunity.pk).status == OpportunityStatus.OPEN


def test_a_turned_down_quote_is_revised_into_a_new_draft_revision(personas, world):
    quote = svc.quote_reject(actor=personas.alice, quote=_approved(personas, world), reason="价格太高")
    assert quote.status == QuoteStatus.REJECTED
    new = svc.quote_revise(actor=personas.alice, quote=quote)
    assert (new.number, new.revision, new.status) == (quote.number, 2, QuoteStatus.DRAFT)
    assert [ln.product_id for ln in new.lines.order_by("order")] == [world.crane.pk, world.hoist.pk]
    assert new.net_total == quote.net_total
    assert Quote.objects.get(pk=quote.pk).status == QuoteStatus.SUPERSEDED
    with pytest.raises(ValidationError):  # only the latest revision is revised
        svc.quote_revise(actor=personas.alice, quote=Quote.objects.get(pk=quote.pk))
    with pytest.raises(ValidationError):  # a draft is edited, not revised
        svc.quote_revise(actor=personas.alice, quote=new)


def test_the_daily_job_expires_approved_and_sent_quotes_past_their_validity(personas, world):
    approved = _approved(personas, world)
    draft = _quote(personas, world)
    past = timezone.localdate() - dt.timedelta(days=1)
    Quote.objects.filter(pk__in=[approved.pk, draft.pk]).update(valid_until=past)
    from steelyard.sales.registrations.quotes import quotes_expire_job

    assert quotes_expire_job.call() == {"expired": 1}
    assert Quote.objects.get(pk=approved.pk).status == QuoteStatus.EXPIRED
    assert Quote.objects.get(pk=draft.pk).status == QuoteStatus.DRAFT
    assert svc.quotes_expire() == {"expired": 0}


# --- who may change a quote --------------------------------------------------------------------------------


def test_only_the_deals_owner_their_managers_and_team_change_its_quotes(personas, world):
    with pytest.raises(PermissionDenied):
        svc.quote_create(actor=personas.charlie, opportunity=world.opportunity)
    quote = _quote(personas, world)
    with pytest.raises(PermissionDenied):
        svc.quote_lines_set(actor=personas.charlie, quote=quote, lines=[])
    # The manager may; so may the director above.
    svc.quote_update(actor=personas.bob, quote=quote, notes="含运输")
    svc.quote_update(actor=personas.dora, quote=quote, delivery_terms="到港交货")
    quote.refresh_from_db()
    assert (quote.notes, quote.delivery_terms) == ("含运输", "到港交货")


def test_a_closed_opportunity_takes_no_new_quote(personas, world):
    Opportunity.objects.filter(pk=world.opportunity.pk).update(status=OpportunityStatus.LOST)
    with pytest.raises(ValidationError):
        svc.quote_create(actor=personas.alice, opportunity=Opportunity.objects.get(pk=world.opportunity.pk))


def test_acceptance_goes_through_the_stage_gate_and_leaves_nothing_when_blocked(personas, world):
    from steelyard.orders.testing import make_product_line
    from steelyard.sales.services.stages import StageGateBlocked
    from steelyard.sales.testing import make_opportunity, make_playbook

    gated_line = make_product_line("HOIST", name="电动葫芦")
    make_playbook(gated_line)  # "needs" requires decision-makers and a site survey
    opp = make_opportunity(personas.alice, customer=world.customer, line=gated_line, stage="needs")
    quote = svc.quote_create(
        actor=personas.alice, opportunity=opp, lines=[{"description": "葫芦", "list_price": "1000"}]
    )
    quote = svc.quote_submit(actor=personas.alice, quote=quote)
    with pytest.raises(StageGateBlocked):
        svc.quote_accept(actor=personas.alice, quote=quote)
    assert Quote.objects.get(pk=quote.pk).status == QuoteStatus.APPROVED
    assert not Contract.objects.exists()
    assert Opportunity.objects.get(pk=opp.pk).status == OpportunityStatus.OPEN
