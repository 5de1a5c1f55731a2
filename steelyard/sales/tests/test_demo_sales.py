"""The sales demo: ``seed_demo`` builds two believable years of selling, consistent, and only once."""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter, defaultdict
from decimal import Decimal
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db.models import Count, F, Sum
from django.utils import timezone
from pypdf import PdfReader

from steelyard.catalog.models import ProductLine
from steelyard.core.models import ApprovalRequest, ApprovalStatus, ApprovalStep
from steelyard.sales.demo import (
    LINE_ITEMS,
    SNAPSHOT_WEEKS,
    _pdf,
    default_template,
    past_weeks,
    snapshot_moment,
    stage_days,
)
from steelyard.sales.models import (
    ChecklistEntry,
    ForecastCell,
    ForecastSnapshot,
    FrameworkAgreement,
    ItemKind,
    Opportunity,
    OpportunityContact,
    OpportunityLine,
    OpportunityMember,
    OpportunityStatus,
    Playbook,
    PlaybookItem,
    PlaybookStatus,
    Quote,
    QuoteLine,
    QuoteStatus,
    RiskFlag,
    StageVisit,
    TeamRole,
)
from steelyard.sales.selectors.agreements import agreement_plan_vs_actual
from steelyard.sales.services.forecast import forecast_rebuild
from steelyard.sales.services.stages import missing_items

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_hasher(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", "--scale", "S", stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    return {m._meta.label: m._default_manager.count() for m in apps.get_app_config("sales").get_models()}


def cells() -> dict[str, tuple[int, int, int]]:
    return {
        c.key: (c.count, c.amount_cents, c.weighted_cents)
        for c in ForecastCell.objects.all()
        if c.count or c.amount_cents or c.weighted_cents
    }


def test_seed_demo_twice_builds_one_consistent_sales_history():
    """One seed (seconds), every invariant, then a second run that creates nothing."""
    first = seed()
    assert "sales:" in first
    before = counts()
    check_playbooks()
    check_volume_and_outcomes()
    check_stage_histories()
    check_funnel_shape()
    check_checklists()
    check_amounts_quotes_and_contracts()
    check_people_on_the_deals()
    check_open_deals_and_flags()
    check_the_rep_and_the_manager()
    check_agreements()
    check_snapshots()
    check_forecast_equals_a_rebuild()
    second = seed()
    assert "created=0" in second
    assert counts() == before


def check_playbooks():
    for code, by_stage in LINE_ITEMS.items():
        line = ProductLine.objects.get(code=code)
        active = Playbook.objects.filter(product_line=line, status=PlaybookStatus.ACTIVE)
        assert active.count() == 1, code
        playbook = active.get()
        stages = list(playbook.stages.order_by("order"))
        assert [s.code for s in stages][:2] == ["qualify", "needs"]
        assert sum(s.is_won for s in stages) == 1 and sum(s.is_lost for s in stages) == 1
        assert all(s.name and s.name_en for s in stages)  # bilingual
        items = PlaybookItem.objects.filter(stage__playbook=playbook)
        assert not items.filter(label_en="").exists()
        for stage_code, own in by_stage.items():
            for _kind, _field, label, _en, required in own:
                assert items.filter(stage__code=stage_code, label=label, required=required).exists(), label
        open_probabilities = [s.probability for s in stages if not s.is_won and not s.is_lost]
        assert open_probabilities == sorted(open_probabilities)
    # Cranes: v2 in force, v1 retired and still carrying a few open deals ("keeps its version").
    crane = ProductLine.objects.get(code="CRANE")
    v1 = Playbook.objects.get(product_line=crane, version=1)
    assert v1.status == PlaybookStatus.RETIRED
    assert Playbook.objects.get(product_line=crane, version=2).status == PlaybookStatus.ACTIVE
    still = Opportunity.objects.filter(playbook=v1, status=OpportunityStatus.OPEN)
    assert 1 <= still.count() <= 5
    assert not PlaybookItem.objects.filter(
        stage__playbook=v1, label=LINE_ITEMS["CRANE"]["needs"][0][2]
    ).exists()
    # Every deal runs on a playbook of its own line, in a stage of that playbook.
    assert not Opportunity.objects.exclude(playbook__product_line=F("product_line")).exists()
    assert not Opportunity.objects.exclude(stage__playbook=F("playbook")).exists()


def check_volume_and_outcomes():
    today = timezone.localdate()
    total = Opportunity.objects.count()
    assert 600 <= total <= 900, total
    won = Opportunity.objects.filter(status=OpportunityStatus.WON)
    lost = Opportunity.objects.filter(status=OpportunityStatus.LOST)
    rate = won.count() / (won.count() + lost.count())
    assert 0.30 <= rate <= 0.42, rate
    year_ago = today - dt.timedelta(days=365)
    for qs in (won, lost):  # both outcomes in each of the two years
        assert qs.filter(closed_on__lt=year_ago, closed_on__gte=today - dt.timedelta(days=730)).count() >= 50
        assert qs.filter(closed_on__gte=year_ago).count() >= 50
        assert not qs.filter(closed_on__gt=today).exists()
        assert not qs.exclude(close_reason="").filter(close_reason__isnull=True).exists()
    assert not won.filter(close_reason="").exists() and not lost.filter(close_reason="").exists()
    # Lost deals name who won (unless nobody did), and that competitor was on the deal.
    named = lost.exclude(lost_to=None)
    assert named.count() >= lost.count() * 0.7
    assert not named.exclude(competitors__competitor=F("lost_to")).exists()
    assert not Opportunity.objects.filter(status=OpportunityStatus.OPEN).exclude(lost_to=None).exists()
    assert set(Opportunity.objects.values_list("product_line__code", flat=True)) == set(LINE_ITEMS)
    assert len(set(Opportunity.objects.values_list("source", flat=True))) >= 6


def check_stage_histories():
    now = timezone.now()
    visits: dict[int, list[StageVisit]] = defaultdict(list)
    for v in StageVisit.objects.select_related("stage").order_by("opportunity_id", "entered_at", "id"):
        visits[v.opportunity_id].append(v)
    for opp in Opportunity.objects.select_related("stage"):
        stays = visits[opp.pk]
        assert stays, opp
        assert stays[0].entered_at == opp.created_at
        for a, b in zip(stays, stays[1:], strict=False):
            assert a.entered_at <= a.left_at == b.entered_at, opp  # contiguous, in order
        last = stays[-1]
        assert last.left_at is None and last.entered_at <= now
        assert last.stage_id == opp.stage_id and last.entered_at == opp.stage_entered_at
        assert all(v.stage.playbook_id == opp.playbook_id for v in stays)
        if opp.status == OpportunityStatus.OPEN:
            assert not last.stage.is_won and not last.stage.is_lost
            assert all(not v.stage.is_won and not v.stage.is_lost for v in stays)
        else:
            assert last.stage.is_won == (opp.status == OpportunityStatus.WON)
            assert last.stage.is_lost == (opp.status == OpportunityStatus.LOST)
            assert timezone.localdate(last.entered_at) == opp.closed_on
        # Forward one stage at a time (won from the last open stage; lost from wherever it died).
        orders = [v.stage.order for v in stays if not v.stage.is_lost]
        assert orders == list(range(orders[0], orders[0] + len(orders))), opp
        assert opp.last_activity_at <= now


def check_funnel_shape():
    playbook = Playbook.objects.get(product_line__code="CRANE", status=PlaybookStatus.ACTIVE)
    codes = list(
        playbook.stages.filter(is_won=False, is_lost=False).order_by("order").values_list("code", flat=True)
    )
    reached = dict(
        StageVisit.objects.values_list("stage__code")
        .annotate(n=Count("opportunity", distinct=True))
        .order_by()
    )
    funnel = [reached[c] for c in codes] + [Opportunity.objects.filter(status=OpportunityStatus.WON).count()]
    assert funnel == sorted(funnel, reverse=True) and len(set(funnel)) == len(funnel), funnel
    # Deals die mostly early.
    died = Counter()
    for _opp_id, code in (
        StageVisit.objects.filter(opportunity__status=OpportunityStatus.LOST, left_at__isnull=False)
        .filter(left_at=F("opportunity__stage_entered_at"))
        .values_list("opportunity_id", "stage__code")
    ):
        died[code] += 1
    assert sum(died.values()) == Opportunity.objects.filter(status=OpportunityStatus.LOST).count()
    assert died[codes[0]] + died[codes[1]] > died[codes[-1]] + died[codes[-2]]
    # Later stages take longer (velocity over completed stays).
    days: dict[str, list[float]] = defaultdict(list)
    for code, entered, left in StageVisit.objects.filter(left_at__isnull=False).values_list(
        "stage__code", "entered_at", "left_at"
    ):
        days[code].append((left - entered).total_seconds() / 86400)
    average = [sum(days[c]) / len(days[c]) for c in codes]
    assert average[0] < average[-1]
    assert 1 <= average[0] <= 40


def check_checklists():
    """Passed stages have their required tasks done, except on the few deals a manager let through."""
    items = defaultdict(list)
    for item in PlaybookItem.objects.filter(required=True).exclude(kind=ItemKind.FIELD):
        items[item.stage_id].append(item)
    done = set(ChecklistEntry.objects.filter(done=True).values_list("opportunity_id", "item_id"))
    gaps = 0
    stays: dict[int, list[StageVisit]] = defaultdict(list)
    for v in StageVisit.objects.select_related("stage").order_by("opportunity_id", "entered_at", "id"):
        stays[v.opportunity_id].append(v)
    for opp_id, vs in stays.items():
        for here, following in zip(vs, vs[1:], strict=False):
            if following.stage.is_lost:
                continue
            missing = [i.label for i in items[here.stage_id] if (opp_id, i.pk) not in done]
            assert missing == following.missing, (opp_id, here.stage.code)
            gaps += bool(missing)
            assert following.approval_id is None
    assert 3 <= gaps <= 40
    assert not ChecklistEntry.objects.filter(done=True, done_at__isnull=True).exists()
    # Open deals' documents are real files.
    documents = ChecklistEntry.objects.filter(
        item__kind=ItemKind.DOCUMENT, done=True, opportunity__status=OpportunityStatus.OPEN
    )
    assert documents.exists() and not documents.filter(attachment=None).exists()
    entry = documents.select_related("attachment", "opportunity").first()
    with entry.attachment.file.open("rb") as fh:
        assert entry.opportunity.number in PdfReader(io.BytesIO(fh.read())).pages[0].extract_text()
    assert entry.attachment.object_id == str(entry.opportunity_id)


def check_amounts_quotes_and_contracts():
    # Sums in Python: SQLite adds decimals as floats.
    totals: dict[int, Decimal] = defaultdict(Decimal)
    for line in OpportunityLine.objects.all():
        assert line.amount == (line.quantity * line.unit_price).quantize(Decimal("0.01")), line
        assert (line.kind == "option") == (line.parent_id is not None)
        totals[line.opportunity_id] += line.amount
    for pk, amount in Opportunity.objects.values_list("pk", "amount"):
        assert totals[pk] == amount, pk
    # Every won deal has its accepted quote and the contract of the orders demo behind it.
    won = Opportunity.objects.filter(status=OpportunityStatus.WON)
    accepted = Quote.objects.filter(status=QuoteStatus.ACCEPTED)
    assert accepted.count() == won.count()
    assert not accepted.filter(contract=None).exists()
    assert not accepted.exclude(opportunity__status=OpportunityStatus.WON).exists()
    assert not accepted.exclude(net_total=F("opportunity__amount")).exists()
    assert not accepted.exclude(contract__amount=F("net_total")).exists()
    assert not accepted.exclude(contract__customer=F("customer")).exists()
    assert accepted.values("contract").distinct().count() == accepted.count()  # no contract twice
    assert not accepted.exclude(contract__number__startswith="HY-HT").exists()  # the orders demo's own
    # Revisions share a number; all but the latest are superseded.
    by_number: dict[str, list[Quote]] = defaultdict(list)
    for q in Quote.objects.order_by("number", "revision"):
        by_number[q.number].append(q)
    assert any(len(qs) > 1 for qs in by_number.values())
    for number, qs in by_number.items():
        assert [q.revision for q in qs] == list(range(1, len(qs) + 1)), number
        assert all(q.status == QuoteStatus.SUPERSEDED for q in qs[:-1]), number
        assert qs[-1].status != QuoteStatus.SUPERSEDED
        assert len({q.opportunity_id for q in qs}) == 1
    priced: dict[int, list[QuoteLine]] = defaultdict(list)
    for line in QuoteLine.objects.all():
        assert line.amount == (line.net_price * line.quantity).quantize(Decimal("0.01"))
        priced[line.quote_id].append(line)
    for q in Quote.objects.all():
        assert q.net_total == sum(ln.amount for ln in priced[q.pk]), q
        assert q.discount_pct == max(ln.discount_pct for ln in priced[q.pk]), q
    assert Quote.objects.filter(discount_pct__gt=F("max_discount_pct")).exists()
    assert not Quote.objects.filter(credit={}).exists()
    # No quote on a deal that never reached the quotation stage.
    assert not Quote.objects.filter(opportunity__stage__code__in=["qualify", "needs"]).exists()


def check_people_on_the_deals():
    assert not OpportunityContact.objects.exclude(contact__customer=F("opportunity__customer")).exists()
    assert not Opportunity.objects.exclude(members__role=TeamRole.OWNER).exists()
    assert (
        not OpportunityMember.objects.filter(role=TeamRole.OWNER)
        .exclude(user=F("opportunity__owner"))
        .exists()
    )
    engineers = OpportunityMember.objects.filter(role=TeamRole.SOLUTION_ENGINEER)
    assert engineers.values("user").distinct().count() >= 3
    assert not engineers.filter(user__roles__code="sales_rep").exists()
    won = Opportunity.objects.filter(status=OpportunityStatus.WON)
    assert not won.exclude(members__role=TeamRole.DELIVERY_MANAGER).exists()
    assert not won.exclude(contacts__role="decision_maker").exists()
    # Each deal's owner owns its customer.
    assert not Opportunity.objects.exclude(customer__owner=F("owner")).exists()
    assert not Opportunity.objects.exclude(org_unit=F("owner__org_unit")).exists()


def check_open_deals_and_flags():
    today = timezone.localdate()
    open_ = Opportunity.objects.filter(status=OpportunityStatus.OPEN)
    assert 80 <= open_.count() <= 220
    months = {d.replace(day=1) for d in open_.values_list("expected_close_date", flat=True) if d >= today}
    assert len(months) >= 6
    assert max(open_.values_list("expected_close_date", flat=True)) <= today + dt.timedelta(days=280)
    categories = set(open_.values_list("forecast_category", flat=True))
    assert {"pipeline", "best_case", "commit"} <= categories
    for flag in (
        RiskFlag.STALLED,
        RiskFlag.CLOSE_PASSED,
        RiskFlag.TASKS_MISSING,
        RiskFlag.SINGLE_THREADED,
        RiskFlag.COMPETITOR,
        RiskFlag.DISCOUNT,
        RiskFlag.CREDIT,
    ):
        n = open_.with_flag(flag).count()
        assert 1 <= n <= open_.count() // 2, (flag, n)
    assert open_.filter(risk_flags="").count() >= open_.count() // 4
    assert not Opportunity.objects.exclude(status=OpportunityStatus.OPEN).exclude(risk_flags="").exists()


def check_the_rep_and_the_manager():
    mine = Opportunity.objects.filter(owner__username="rep")
    assert (
        mine.filter(status=OpportunityStatus.WON).exists()
        and mine.filter(status=OpportunityStatus.LOST).exists()
    )
    open_ = mine.filter(status=OpportunityStatus.OPEN).select_related("stage")
    assert len({o.stage.code for o in open_}) >= 4
    assert any(missing_items(o) for o in open_)  # a stage with its checklist unfinished
    assert open_.with_flag(RiskFlag.STALLED).exists()
    assert open_.with_flag(RiskFlag.CREDIT).exists()  # a quote over the customer's credit limit
    today = timezone.localdate()
    assert open_.filter(expected_close_date__year=today.year, expected_close_date__month=today.month).exists()
    pending = Quote.objects.get(opportunity__owner__username="rep", status=QuoteStatus.PENDING)
    assert pending.discount_pct > pending.max_discount_pct
    assert pending.approval.status == ApprovalStatus.PENDING
    # The manager's inbox: the discount and a stage gate, each waiting on them now.
    waiting = ApprovalStep.objects.filter(
        approver__username="manager", request__status=ApprovalStatus.PENDING, order=F("request__current_step")
    ).values_list("request__kind", flat=True)
    assert {"sales.quote_discount", "sales.stage_gate"} <= set(waiting)
    gate = ApprovalRequest.objects.get(kind="sales.stage_gate", requester__username="rep")
    assert gate.requested_change["missing"] == [LINE_ITEMS["CRANE"]["needs"][0][2]]


def check_agreements():
    agreements = FrameworkAgreement.objects.filter(status="active")
    assert agreements.count() == 2
    assert agreements.filter(customer__owner__username="rep").exists()
    for agreement in agreements:
        grid = agreement_plan_vs_actual(agreement)
        assert agreement.period == "quarter" and len(grid.periods) == 8
        assert grid.total.planned > 0 and grid.total.actual > 0
        assert all(p.day == 1 and p.month in (1, 4, 7, 10) for p in grid.periods)


def check_snapshots():
    weeks = past_weeks(timezone.localdate())
    snaps = {s.week: s for s in ForecastSnapshot.objects.filter(is_weekly=True)}
    assert len(weeks) == SNAPSHOT_WEEKS and set(weeks) <= set(snaps)
    for week in weeks:
        snap = snaps[week]
        assert snap.taken_at == snapshot_moment(week) < timezone.now()
        assert snap.rows.count() == snap.rows_count > 0

    # The forecast grew as deals were created: the latest snapshot holds more open pipeline than the first.
    def open_cents(week):
        return (
            snaps[week]
            .rows.filter(category__in=["pipeline", "best_case", "commit"])
            .aggregate(s=Sum("amount_cents"))["s"]
        )

    assert open_cents(weeks[0]) > 0 and open_cents(weeks[-1]) > 0


def check_forecast_equals_a_rebuild():
    kept = cells()
    assert kept
    forecast_rebuild()
    assert cells() == kept


def test_stage_days_grow_and_split_the_cycle():
    days = stage_days("RAIL", 5)
    assert days == sorted(days) and abs(sum(days) - 180) < 1e-9
    assert stage_days("ENGINE", 5)[0] < stage_days("RAIL", 5)[0]


def test_the_document_stand_in_is_a_pdf():
    text = PdfReader(io.BytesIO(_pdf("Technical proposal - OPP-2026-000001"))).pages[0].extract_text()
    assert "OPP-2026-000001" in text


def test_past_weeks_are_the_mondays_before_this_week():
    weeks = past_weeks(dt.date(2026, 3, 4))  # a Wednesday
    assert weeks[-1] == dt.date(2026, 2, 23) and len(weeks) == SNAPSHOT_WEEKS
    assert all(w.weekday() == 0 for w in weeks)
    assert weeks == sorted(weeks)


def test_line_playbooks_copy_the_default_playbook_or_the_shipped_one():
    shipped = default_template()
    assert [t.code for t in shipped][:2] == ["qualify", "needs"] and shipped[-1].is_lost
    # Without a default playbook in the database, the shipped one (its data migration) is the template.
    Playbook.objects.filter(product_line__isnull=True).delete()
    fallback = default_template()
    assert [(t.code, t.probability, len(t.items)) for t in fallback] == [
        (t.code, t.probability, len(t.items)) for t in shipped
    ]
