"""Open opportunities keep the version they started on until they are moved; moving them follows a stage map,
keeps the forecast cells equal to a recount, and leaves closed deals alone."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from steelyard.core.models import AuditLog
from steelyard.orders.testing import make_product_line
from steelyard.sales.models import (
    ChecklistEntry,
    ForecastCell,
    Opportunity,
    OpportunityStatus,
    Playbook,
    PlaybookStatus,
    StageVisit,
)
from steelyard.sales.services import playbooks as svc
from steelyard.sales.services.forecast import forecast_rebuild
from steelyard.sales.testing import make_opportunity, make_playbook, stage_of

pytestmark = pytest.mark.django_db


def cells() -> dict[str, tuple[int, int, int]]:
    return {
        c.key: (c.count, c.amount_cents, c.weighted_cents)
        for c in ForecastCell.objects.all()
        if c.count or c.amount_cents or c.weighted_cents
    }


@pytest.fixture
def world(personas):
    Playbook.objects.all().delete()
    line = make_product_line("CRANE", name="起重机")
    v1 = make_playbook(line)
    earlier = timezone.now() - dt.timedelta(days=9)
    close = timezone.localdate() + dt.timedelta(days=40)
    a = make_opportunity(
        personas.alice,
        line=line,
        playbook=v1,
        stage="needs",
        amount="1000000",
        close=close,
        entered_at=earlier,
    )
    b = make_opportunity(
        personas.charlie,
        line=line,
        playbook=v1,
        stage="proposal",
        amount="333.33",
        close=close,
        entered_at=earlier,
    )
    Opportunity.objects.filter(pk=b.pk).update(probability=Decimal("55"), probability_is_manual=True)
    c = make_opportunity(
        personas.alice,
        line=line,
        playbook=v1,
        stage="negotiation",
        amount="2500000.55",
        close=close,
        entered_at=earlier,
        forecast_category="best_case",
        forecast_category_is_manual=True,
    )
    won = make_opportunity(personas.alice, line=line, playbook=v1, stage="won", amount="700")
    lost = make_opportunity(personas.bob, line=line, playbook=v1, stage="lost", amount="900")
    survey = stage_of(v1, "needs").items.get(label="现场调研")
    ChecklistEntry.objects.create(
        opportunity=a, item=survey, done=True, done_by=personas.alice, done_at=earlier, note="已完成"
    )
    forecast_rebuild()  # b's manual probability was set behind the cells' back
    # v2: needs at 25 %, "proposal" renamed "solution", a new stage before negotiation
    v2 = svc.playbook_create(actor=personas.admin, product_line=line)
    svc.playbook_stage_update(actor=personas.admin, stage=stage_of(v2, "needs"), values={"probability": "25"})
    svc.playbook_stage_update(
        actor=personas.admin, stage=stage_of(v2, "proposal"), values={"code": "solution", "name": "方案设计"}
    )
    svc.playbook_stage_add(
        actor=personas.admin,
        playbook=v2,
        values={
            "code": "quotation",
            "name": "商务报价",
            "probability": "60",
            "forecast_category": "best_case",
        },
    )
    svc.playbook_stages_reorder(
        actor=personas.admin,
        playbook=v2,
        stage_ids=[
            stage_of(v2, c).pk
            for c in ("qualify", "needs", "solution", "quotation", "negotiation", "won", "lost")
        ],
    )
    svc.playbook_activate(actor=personas.admin, playbook=v2)
    v1.refresh_from_db()
    v2.refresh_from_db()
    return {
        "line": line,
        "v1": v1,
        "v2": v2,
        "a": a,
        "b": b,
        "c": c,
        "won": won,
        "lost": lost,
        "earlier": earlier,
    }


def test_an_opportunity_on_v1_stays_on_v1_after_v2_activates(world, personas):
    v1, v2 = world["v1"], world["v2"]
    assert (v1.status, v2.status) == (PlaybookStatus.RETIRED, PlaybookStatus.ACTIVE)
    a = Opportunity.objects.get(pk=world["a"].pk)
    assert a.playbook_id == v1.pk and a.stage == stage_of(v1, "needs") and a.probability == Decimal("20")
    from steelyard.sales.selectors.playbooks import playbook_for

    assert playbook_for(world["line"].pk) == v2  # new opportunities start on v2
    new = make_opportunity(personas.alice, line=world["line"])
    assert new.playbook_id == v2.pk


def test_the_default_map_matches_stage_codes(world):
    v1, v2 = world["v1"], world["v2"]
    mapping = svc.default_stage_map(v1, v2)
    assert {stage_of(v1, c).pk: stage_of(v2, c).pk for c in ("qualify", "needs", "negotiation")} == mapping


def test_a_stage_with_open_opportunities_must_be_mapped(world, personas):
    v1, v2 = world["v1"], world["v2"]
    proposal = stage_of(v1, "proposal")
    with pytest.raises(ValidationError) as exc:
        svc.playbook_migrate(actor=personas.admin, source=v1, target=v2)
    assert list(exc.value.message_dict) == [f"stage_map.{proposal.pk}"]
    assert "方案报价" in exc.value.message_dict[f"stage_map.{proposal.pk}"][0]
    with pytest.raises(ValidationError) as exc:  # onto a closing stage
        svc.playbook_migrate(
            actor=personas.admin, source=v1, target=v2, stage_map={proposal.pk: stage_of(v2, "won").pk}
        )
    assert exc.value.message_dict == {f"stage_map.{proposal.pk}": [str(svc.ERR_MAP_TARGET % {"version": 2})]}
    with pytest.raises(ValidationError) as exc:  # from a stage of another version
        svc.playbook_migrate(
            actor=personas.admin,
            source=v1,
            target=v2,
            stage_map={stage_of(v2, "needs").pk: stage_of(v2, "needs").pk},
        )
    assert f"stage_map.{stage_of(v2, 'needs').pk}" in exc.value.message_dict
    assert Opportunity.objects.filter(playbook=v1).count() == 5  # nothing moved


def test_moving_needs_a_target_in_force_and_an_editor(world, personas):
    v1, v2 = world["v1"], world["v2"]
    with pytest.raises(ValidationError) as exc:
        svc.playbook_migrate(actor=personas.admin, source=v2, target=v1)
    assert exc.value.message_dict == {"target": [str(svc.ERR_TARGET_NOT_ACTIVE)]}
    with pytest.raises(ValidationError):
        svc.playbook_migrate(actor=personas.admin, source=v2, target=v2)
    other = make_playbook(make_product_line("ENGINE", name="发动机"))
    with pytest.raises(ValidationError) as exc:
        svc.playbook_migrate(actor=personas.admin, source=v1, target=other)
    assert exc.value.message_dict == {"target": [str(svc.ERR_OTHER_LINE)]}
    for user in (personas.alice, personas.bob, personas.charlie):
        with pytest.raises(PermissionDenied):
            svc.playbook_migrate(actor=user, source=v1, target=v2)


def test_migrate_moves_open_opportunities_and_keeps_the_forecast_exact(world, personas):
    v1, v2 = world["v1"], world["v2"]
    stage_map = {stage_of(v1, "proposal").pk: stage_of(v2, "solution").pk}
    n = svc.playbook_migrate(actor=personas.dora, source=v1, target=v2, stage_map=stage_map)
    assert n == 3
    a, b, c = (Opportunity.objects.get(pk=world[k].pk) for k in "abc")
    # a: needs → needs, probability from the new stage (25 %), same stage code keeps its "since"
    assert (a.playbook_id, a.stage.code, a.probability, a.forecast_category) == (
        v2.pk,
        "needs",
        25,
        "pipeline",
    )
    assert a.weighted_amount == Decimal("250000.00")
    assert abs((a.stage_entered_at - world["earlier"]).total_seconds()) < 1
    # b: proposal → solution by the map; its probability was set by hand and stays; new stage code: new "since"
    assert (b.stage.code, b.probability, b.forecast_category) == ("solution", Decimal("55"), "best_case")
    assert b.weighted_amount == Decimal("183.33")
    assert b.stage_entered_at > world["earlier"] + dt.timedelta(days=8)
    # c: its category was set by hand and stays; the probability follows the stage (70 %)
    assert (c.stage.code, c.probability, c.forecast_category) == ("negotiation", Decimal("70"), "best_case")
    # closed deals keep the version they were closed on
    for key in ("won", "lost"):
        closed = Opportunity.objects.get(pk=world[key].pk)
        assert closed.playbook_id == v1.pk and closed.status != OpportunityStatus.OPEN
    # the cells moved by deltas equal a full recount
    incremental = cells()
    forecast_rebuild()
    assert cells() == incremental
    # one stay closed and one opened per moved opportunity
    for opp in (a, b, c):
        visits = list(StageVisit.objects.filter(opportunity=opp).order_by("entered_at", "id"))
        assert [v.stage.playbook_id for v in visits] == [v1.pk, v2.pk]
        assert visits[0].left_at is not None and visits[1].left_at is None
        assert visits[1].stage_id == opp.stage_id and visits[1].entered_by == personas.dora
    # flags follow the new stage: v2's needs asks for decision-makers, which a lacks
    assert "tasks_missing" in a.flags
    # a ticked task carries over to the same item of the new version
    entry = ChecklistEntry.objects.get(opportunity=a, item__stage__playbook=v2)
    assert (entry.item.label, entry.done, entry.note, entry.done_by) == (
        "现场调研",
        True,
        "已完成",
        personas.alice,
    )
    # history records who moved it; both versions' audit trails say how many
    assert a.history.first().history_user == personas.dora
    logs = AuditLog.objects.filter(verb=svc.AUDIT_MIGRATED)
    assert {log.object_id for log in logs} == {str(v1.pk), str(v2.pk)}
    assert all(log.extra["opportunities"] == 3 for log in logs)
    # nothing left to move
    assert svc.playbook_migrate(actor=personas.dora, source=v1, target=v2, stage_map=stage_map) == 0


def test_open_opportunities_on_the_default_move_onto_a_lines_own_playbook(personas):
    Playbook.objects.all().delete()
    crane = make_product_line("CRANE", name="起重机")
    engine = make_product_line("ENGINE", name="发动机")
    default = make_playbook(None)
    mine = make_opportunity(personas.alice, line=crane, playbook=default, stage="qualify")
    other = make_opportunity(personas.alice, line=engine, playbook=default, stage="qualify")
    own = svc.playbook_create(actor=personas.admin, product_line=crane)
    svc.playbook_activate(actor=personas.admin, playbook=own)
    default.refresh_from_db()
    assert default.status == PlaybookStatus.ACTIVE  # a line's own playbook does not retire the default
    assert svc.playbook_migrate(actor=personas.admin, source=default, target=own) == 1
    mine.refresh_from_db()
    other.refresh_from_db()
    assert (mine.playbook_id, other.playbook_id) == (own.pk, default.pk)
    incremental = cells()
    forecast_rebuild()
    assert cells() == incremental
