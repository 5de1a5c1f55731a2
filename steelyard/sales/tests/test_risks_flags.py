"""Risk flags: each flag on and off at its boundary; the bulk refresh agrees with the single computation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from steelyard.core.models import Attachment
from steelyard.core.models.approvals import ApprovalRequest, ApprovalStatus
from steelyard.customers.models import Contact, DecisionRole
from steelyard.orders.testing import make_product_line
from steelyard.sales.models import (
    ChecklistEntry,
    Competitor,
    Opportunity,
    OpportunityCompetitor,
    OpportunityContact,
    Quote,
    QuoteStatus,
    RiskFlag,
    ThreatLevel,
)
from steelyard.sales.services.risks import flags_value, opportunity_risks, risk_flags_compute, risks_refresh
from steelyard.sales.testing import make_opportunity, make_playbook

TODAY = dt.date(2026, 3, 20)


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


@pytest.fixture
def pb(db):
    return make_playbook(make_product_line("CRANE", name="起重机"))


def healthy(owner, pb, **kw):
    """An open opportunity in *qualify* (no required items) with two contacts: no flag at all."""
    kw.setdefault("entered_at", at(TODAY))
    kw.setdefault("close", TODAY + dt.timedelta(days=30))
    opp = make_opportunity(owner, playbook=pb, **kw)
    for i in range(2):
        add_contact(opp, f"联系人{i}")
    return opp


def add_contact(opp, name, role=DecisionRole.INFLUENCER):
    contact = Contact.objects.create(customer=opp.customer, name=name)
    return OpportunityContact.objects.create(opportunity=opp, contact=contact, role=role)


def codes(opp) -> list[str]:
    opp = Opportunity.objects.select_related("stage").get(pk=opp.pk)
    return [r.code for r in opportunity_risks(opp, today=TODAY)]


def stored(opp) -> str:
    return Opportunity.objects.get(pk=opp.pk).risk_flags


def quote(opp, *, discount="10", limit="10", status=QuoteStatus.DRAFT, credit=None, approval=None, n=1):
    return Quote.objects.create(
        number=f"Q-{opp.pk}",
        revision=n,
        opportunity=opp,
        customer=opp.customer,
        status=status,
        valid_until=TODAY + dt.timedelta(days=30),
        discount_pct=Decimal(discount),
        max_discount_pct=Decimal(limit),
        credit=credit or {},
        approval=approval,
    )


def test_a_healthy_opportunity_has_no_flag(personas, pb):
    opp = healthy(personas.alice, pb)
    assert codes(opp) == []
    assert risks_refresh(ids=[opp.pk], today=TODAY) == 0
    assert stored(opp) == ""


def test_stalled_after_more_days_than_the_stage_allows(personas, pb):
    # qualify allows 30 days without activity
    on_limit = healthy(personas.alice, pb, last_activity_at=at(TODAY - dt.timedelta(days=30), 23))
    over = healthy(personas.alice, pb, last_activity_at=at(TODAY - dt.timedelta(days=31), 1))
    assert codes(on_limit) == []
    assert codes(over) == [RiskFlag.STALLED]
    assert opp_detail(over, RiskFlag.STALLED) == "No activity for 31 days (limit 30 in Qualify)"
    risks_refresh(ids=[on_limit.pk, over.pk], today=TODAY)
    assert stored(on_limit) == ""
    assert stored(over) == ",stalled,"


def test_a_stage_without_a_stall_limit_never_stalls(personas, pb):
    opp = healthy(personas.alice, pb, last_activity_at=at(TODAY - dt.timedelta(days=400)))
    pb.stages.filter(code="qualify").update(stall_days=None)
    assert codes(opp) == []


def test_close_date_passed(personas, pb):
    today_close = healthy(personas.alice, pb, close=TODAY)
    passed = healthy(personas.alice, pb, close=TODAY - dt.timedelta(days=1))
    assert codes(today_close) == []
    assert codes(passed) == [RiskFlag.CLOSE_PASSED]
    risks_refresh(today=TODAY)
    assert stored(passed) == ",close_passed,"
    assert stored(today_close) == ""


def test_required_items_missing_until_each_is_satisfied(personas, pb):
    # needs: decision-makers (field) + site survey (task)
    opp = healthy(personas.alice, pb, stage="needs")
    assert codes(opp) == [RiskFlag.TASKS_MISSING]
    assert (
        opp_detail(opp, RiskFlag.TASKS_MISSING) == "Missing in Needs analysis: Decision-makers, Site survey"
    )
    add_contact(opp, "总经理", role=DecisionRole.DECISION_MAKER)
    assert codes(opp) == [RiskFlag.TASKS_MISSING]
    survey = pb.stages.get(code="needs").items.get(kind="task")
    entry = ChecklistEntry.objects.create(opportunity=opp, item=survey, done=False)
    assert codes(opp) == [RiskFlag.TASKS_MISSING]
    assert risk_flags_compute([opp.pk], today=TODAY)[opp.pk] == ",tasks_missing,"
    entry.done = True
    entry.save()
    assert codes(opp) == []
    assert risk_flags_compute([opp.pk], today=TODAY)[opp.pk] == ""


def test_a_required_document_needs_its_attachment(personas, pb):
    opp = healthy(personas.alice, pb, stage="proposal")
    quote(opp)
    doc = pb.stages.get(code="proposal").items.get(kind="document")
    entry = ChecklistEntry.objects.create(opportunity=opp, item=doc, done=True)
    assert codes(opp) == [RiskFlag.TASKS_MISSING]
    assert risk_flags_compute([opp.pk], today=TODAY)[opp.pk] == ",tasks_missing,"
    entry.attachment = Attachment.objects.create(
        content_type_id=1,
        object_id=str(opp.pk),
        file=ContentFile(b"pdf", name="p.pdf"),
        filename="p.pdf",
        size=3,
        sha256="0" * 64,
        uploaded_by=personas.alice,
    )
    entry.save()
    assert codes(opp) == []
    assert risk_flags_compute([opp.pk], today=TODAY)[opp.pk] == ""


def opp_detail(opp, code) -> str:
    """The detail of one risk, in English (the texts asserted below)."""
    opp = Opportunity.objects.select_related("stage").get(pk=opp.pk)
    with translation.override("en"):
        return next(r.detail for r in opportunity_risks(opp, today=TODAY) if r.code == code)


def test_discount_above_the_limit_unless_approved(personas, pb):
    at_limit = healthy(personas.alice, pb)
    quote(at_limit, discount="12.00", limit="12.00")
    over = healthy(personas.alice, pb)
    q = quote(over, discount="12.01", limit="12.00")
    assert codes(at_limit) == []
    assert codes(over) == [RiskFlag.DISCOUNT]
    assert "12.01%" in opp_detail(over, RiskFlag.DISCOUNT)
    assert risk_flags_compute([at_limit.pk, over.pk], today=TODAY) == {at_limit.pk: "", over.pk: ",discount,"}
    # an approved quote is no risk
    q.status = QuoteStatus.APPROVED
    q.save()
    assert codes(over) == []
    assert risk_flags_compute([over.pk], today=TODAY)[over.pk] == ""


def test_discount_approved_through_its_approval_request(personas, pb):
    from django.contrib.contenttypes.models import ContentType

    over = healthy(personas.alice, pb)
    req = ApprovalRequest.objects.create(
        kind="sales.quote_discount",
        title="discount",
        content_type=ContentType.objects.get_for_model(Quote),
        object_id=str(over.pk),
        requester=personas.alice,
        reason="大客户",
        status=ApprovalStatus.PENDING,
    )
    quote(over, discount="20", limit="10", status=QuoteStatus.PENDING, approval=req)
    assert codes(over) == [RiskFlag.DISCOUNT]
    ApprovalRequest.objects.filter(pk=req.pk).update(status=ApprovalStatus.APPROVED)
    assert codes(over) == []
    assert risk_flags_compute([over.pk], today=TODAY)[over.pk] == ""


def test_only_the_latest_quote_that_is_not_superseded_counts(personas, pb):
    opp = healthy(personas.alice, pb)
    quote(opp, discount="30", limit="10", n=1, credit={"over": True})
    latest = quote(opp, discount="5", limit="10", n=2)
    assert codes(opp) == []
    latest.status = QuoteStatus.SUPERSEDED
    latest.save()
    assert codes(opp) == [RiskFlag.DISCOUNT, RiskFlag.CREDIT]
    assert risk_flags_compute([opp.pk], today=TODAY)[opp.pk] == ",discount,credit,"


def test_credit_over_the_limit(personas, pb):
    ok = healthy(personas.alice, pb)
    quote(ok, credit={"limit": "100", "exposure": "100", "over": False})
    over = healthy(personas.alice, pb)
    quote(over, credit={"limit": "100", "exposure": "100.01", "over": True})
    assert codes(ok) == []
    assert codes(over) == [RiskFlag.CREDIT]
    assert opp_detail(over, RiskFlag.CREDIT).endswith("credit exposure 100.01 over the limit 100")


def test_single_threaded_below_two_contacts(personas, pb):
    none = make_opportunity(personas.alice, playbook=pb, entered_at=at(TODAY), close=TODAY)
    one = make_opportunity(personas.alice, playbook=pb, entered_at=at(TODAY), close=TODAY)
    add_contact(one, "唯一")
    two = healthy(personas.alice, pb)
    assert codes(none) == [RiskFlag.SINGLE_THREADED]
    assert opp_detail(none, RiskFlag.SINGLE_THREADED) == "No contact on the deal"
    assert codes(one) == [RiskFlag.SINGLE_THREADED]
    assert opp_detail(one, RiskFlag.SINGLE_THREADED) == "Only 1 contact on the deal"
    assert codes(two) == []
    assert risk_flags_compute([none.pk, one.pk, two.pk], today=TODAY) == {
        none.pk: ",single_threaded,",
        one.pk: ",single_threaded,",
        two.pk: "",
    }


def test_competitor_threat_only_when_high(personas, pb):
    opp = healthy(personas.alice, pb)
    rival = Competitor.objects.create(name="三一重工")
    link = OpportunityCompetitor.objects.create(opportunity=opp, competitor=rival, threat=ThreatLevel.MEDIUM)
    assert codes(opp) == []
    link.threat = ThreatLevel.HIGH
    link.save()
    assert codes(opp) == [RiskFlag.COMPETITOR]
    assert opp_detail(opp, RiskFlag.COMPETITOR) == "High threat: 三一重工"
    assert risk_flags_compute([opp.pk], today=TODAY)[opp.pk] == ",competitor,"


def test_closed_opportunities_carry_no_flag(personas, pb):
    won = make_opportunity(personas.alice, playbook=pb, stage="won", close=TODAY - dt.timedelta(days=90))
    Opportunity.objects.filter(pk=won.pk).update(risk_flags=",close_passed,")
    assert codes(won) == []
    assert risks_refresh(today=TODAY) == 1
    assert stored(won) == ""
    lost = make_opportunity(personas.alice, playbook=pb, stage="lost")
    Opportunity.objects.filter(pk=lost.pk).update(risk_flags=",stalled,")
    assert risks_refresh(ids=[lost.pk], today=TODAY) == 1
    assert stored(lost) == ""


def test_flags_value_orders_and_dedupes():
    assert flags_value([]) == ""
    assert flags_value(["competitor", "stalled", "stalled"]) == ",stalled,competitor,"


def test_bulk_refresh_equals_the_single_computation(personas, pb):
    rival = Competitor.objects.create(name="徐工")
    opps = []
    for i in range(24):
        opp = make_opportunity(
            personas.alice if i % 2 else personas.charlie,
            playbook=pb,
            stage=["qualify", "needs", "proposal", "negotiation"][i % 4],
            close=TODAY + dt.timedelta(days=(i % 5) - 2),
            entered_at=at(TODAY - dt.timedelta(days=i * 2)),
        )
        for c in range(i % 3):
            add_contact(opp, f"c{c}", role=DecisionRole.DECISION_MAKER if c else DecisionRole.USER)
        if i % 5 == 0:
            OpportunityCompetitor.objects.create(
                opportunity=opp, competitor=rival, threat=[ThreatLevel.HIGH, ThreatLevel.LOW][i % 2]
            )
        if i % 3 == 0:
            quote(opp, discount=str(i), limit="10", credit={"over": i % 4 == 0})
        if i % 4 == 1:
            for item in pb.stages.get(code="needs").items.all():
                ChecklistEntry.objects.create(opportunity=opp, item=item, done=True)
        opps.append(opp)
    assert risks_refresh(today=TODAY) > 0
    seen = set()
    for opp in opps:
        single = codes(opp)
        assert stored(opp) == flags_value(single), opp
        seen.update(single)
    assert seen == {f.value for f in RiskFlag}  # the example exercises every flag
    # nothing changed: nothing written
    assert risks_refresh(today=TODAY) == 0


def test_bulk_refresh_has_a_bounded_number_of_queries(personas, pb, settings):
    from steelyard.sales.services import risks

    for _ in range(12):
        make_opportunity(personas.alice, playbook=pb, stage="needs", entered_at=at(TODAY))
    settings.DEBUG = True
    risks.CHUNK, old = 5, risks.CHUNK
    try:
        with CaptureQueriesContext(connection) as ctx:
            risks_refresh(today=TODAY)
    finally:
        risks.CHUNK = old
    # 1 clear of closed rows + 1 id list + 3 chunks × (opportunities, items, entries, quotes, ≤ 1 write)
    assert len(ctx.captured_queries) <= 2 + 3 * 5
    assert {stored(o) for o in Opportunity.objects.all()} == {",tasks_missing,single_threaded,"}


def test_the_daily_job_refreshes_every_open_opportunity(personas, pb):
    from steelyard.core.models import JobStatus
    from steelyard.core.periodic import periodic_get, periodic_run
    from steelyard.sales.tasks import RISKS_JOB

    yesterday = timezone.localdate() - dt.timedelta(days=1)
    opp = healthy(personas.alice, pb, close=yesterday, entered_at=timezone.now())
    assert stored(opp) == ""
    assert periodic_get(RISKS_JOB).cron == "30 1 * * *"
    job = periodic_run(RISKS_JOB)
    assert job.status == JobStatus.SUCCESSFUL, job.error
    assert job.result == {"changed": 1}
    assert stored(opp) == ",close_passed,"
