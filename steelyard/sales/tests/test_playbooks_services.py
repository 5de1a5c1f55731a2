"""Editing playbooks: who may, the rules a stage and an item must follow, the rules on the whole process,
drafts only, new versions, and activation retiring the version in force."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from steelyard.core.models import AuditLog
from steelyard.orders.testing import make_product_line
from steelyard.sales.models import ItemKind, Playbook, PlaybookItem, PlaybookStage, PlaybookStatus
from steelyard.sales.services import playbooks as svc
from steelyard.sales.testing import make_playbook, stage_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def line(personas):
    Playbook.objects.all().delete()
    return make_product_line("CRANE", name="起重机", name_en="Cranes")


@pytest.fixture
def draft(line, personas):
    make_playbook(line)
    return svc.playbook_create(actor=personas.admin, product_line=line)


def _errors(exc: pytest.ExceptionInfo) -> dict[str, list[str]]:
    return exc.value.message_dict


def _open(**kw):
    values = {"code": "survey", "name": "现场勘察", "probability": "30", "forecast_category": "pipeline"}
    values.update(kw)
    return values


# --- who may edit -------------------------------------------------------------------------------------


def test_only_administrators_and_directors_edit(line, personas):
    pb = make_playbook(line, status=PlaybookStatus.DRAFT)
    for user in (personas.alice, personas.bob, personas.charlie):
        with pytest.raises(PermissionDenied):
            svc.playbook_create(actor=user, product_line=line)
        with pytest.raises(PermissionDenied):
            svc.playbook_stage_add(actor=user, playbook=pb, values=_open())
        with pytest.raises(PermissionDenied):
            svc.playbook_activate(actor=user, playbook=pb)
    assert svc.can_edit_playbooks(personas.admin) and svc.can_edit_playbooks(personas.dora)
    stage = svc.playbook_stage_add(actor=personas.dora, playbook=pb, values=_open())
    assert stage.pk
    assert all(svc.can_read_playbooks(getattr(personas, n)) for n in ("alice", "bob", "charlie", "dora"))


# --- versions ----------------------------------------------------------------------------------------


def test_a_new_version_copies_the_version_in_force_as_the_next_draft(draft, line, personas):
    v1 = Playbook.objects.get(product_line=line, version=1)
    assert (draft.version, draft.status, draft.product_line_id) == (2, PlaybookStatus.DRAFT, line.pk)
    assert list(draft.stages.order_by("order").values_list("code", "probability")) == list(
        v1.stages.order_by("order").values_list("code", "probability")
    )
    assert PlaybookItem.objects.filter(stage__playbook=draft).count() == 5
    needs = stage_of(draft, "needs")
    assert list(needs.items.values_list("label", "required")) == [("关键决策人", True), ("现场调研", True)]
    log = AuditLog.objects.get(verb=svc.AUDIT_CREATED, object_id=str(draft.pk))
    assert log.actor == personas.admin and log.extra["copied_from"] == v1.pk
    # copying again numbers on
    v3 = svc.playbook_copy(actor=personas.dora, source=v1)
    assert (v3.version, v3.product_line_id, v3.name) == (3, line.pk, v1.name)


def test_a_lines_first_playbook_copies_the_default(line, personas):
    default = make_playbook(None)
    pb = svc.playbook_create(actor=personas.admin, product_line=line)
    assert (pb.version, pb.product_line_id, pb.name) == (1, line.pk, "起重机销售流程")
    assert pb.stages.count() == default.stages.count()
    copied = svc.playbook_copy(actor=personas.admin, source=default, product_line=line)
    assert copied.version == 2 and copied.product_line_id == line.pk


def test_with_nothing_to_copy_a_draft_starts_with_the_closing_stages(line, personas):
    pb = svc.playbook_create(actor=personas.admin, product_line=None)
    assert pb.product_line_id is None and pb.version == 1
    assert list(pb.stages.order_by("order").values_list("code", "is_won", "is_lost")) == [
        ("won", True, False),
        ("lost", False, True),
    ]
    assert svc.playbook_problems(pb) == {"stages": [str(svc.ERR_NO_OPEN)]}
    stage = svc.playbook_stage_add(actor=personas.admin, playbook=pb, values=_open(code="qualify"))
    assert stage.order == 1  # open stages go before won and lost
    assert svc.playbook_problems(pb) == {}


def test_only_drafts_change(line, personas):
    active = make_playbook(line)
    stage = stage_of(active, "needs")
    item = stage.items.first()
    calls = [
        lambda: svc.playbook_update(actor=personas.admin, playbook=active, name="x"),
        lambda: svc.playbook_delete(actor=personas.admin, playbook=active),
        lambda: svc.playbook_stage_add(actor=personas.admin, playbook=active, values=_open()),
        lambda: svc.playbook_stage_update(actor=personas.admin, stage=stage, values={"probability": 25}),
        lambda: svc.playbook_stage_delete(actor=personas.admin, stage=stage),
        lambda: svc.playbook_item_add(actor=personas.admin, stage=stage, values={"label": "x"}),
        lambda: svc.playbook_item_update(actor=personas.admin, item=item, values={"required": False}),
        lambda: svc.playbook_item_delete(actor=personas.admin, item=item),
    ]
    for call in calls:
        with pytest.raises(ValidationError) as exc:
            call()
        assert exc.value.messages == [str(svc.ERR_LOCKED)]
    stage.refresh_from_db()
    assert stage.probability == Decimal("20") and stage.items.count() == 2


def test_discarding_a_draft_deletes_it_and_is_audited(draft, personas):
    pk = draft.pk
    svc.playbook_delete(actor=personas.dora, playbook=draft)
    assert not Playbook.objects.filter(pk=pk).exists()
    assert not PlaybookStage.objects.filter(playbook_id=pk).exists()
    assert AuditLog.objects.filter(verb=svc.AUDIT_DELETED, object_id=str(pk), actor=personas.dora).exists()


# --- stage rules -------------------------------------------------------------------------------------


def test_stage_codes_are_unique_slugs(draft, personas):
    with pytest.raises(ValidationError) as exc:
        svc.playbook_stage_add(actor=personas.admin, playbook=draft, values=_open(code="needs"))
    assert _errors(exc) == {"code": [str(svc.ERR_CODE_TAKEN)]}
    with pytest.raises(ValidationError) as exc:
        svc.playbook_stage_add(actor=personas.admin, playbook=draft, values=_open(code="现场"))
    assert "code" in _errors(exc)
    needs = stage_of(draft, "needs")
    with pytest.raises(ValidationError) as exc:
        svc.playbook_stage_update(actor=personas.admin, stage=needs, values={"code": "proposal"})
    assert _errors(exc) == {"code": [str(svc.ERR_CODE_TAKEN)]}
    svc.playbook_stage_update(actor=personas.admin, stage=needs, values={"code": "Needs-2"})
    assert draft.stages.filter(code="needs-2").exists()  # lower-cased


@pytest.mark.parametrize("value", ["-1", "100.01", "abc", None])
def test_probability_is_between_0_and_100(draft, personas, value):
    with pytest.raises(ValidationError) as exc:
        svc.playbook_stage_add(actor=personas.admin, playbook=draft, values=_open(probability=value))
    assert "probability" in _errors(exc)


def test_won_is_100_and_closed_won_lost_is_0_and_closed_lost(draft, personas):
    won, lost = stage_of(draft, "won"), stage_of(draft, "lost")
    with pytest.raises(ValidationError) as exc:
        svc.playbook_stage_update(actor=personas.admin, stage=won, values={"probability": 90})
    assert _errors(exc) == {"probability": [str(svc.ERR_WON_PROBABILITY)]}
    with pytest.raises(ValidationError) as exc:
        svc.playbook_stage_update(actor=personas.admin, stage=won, values={"forecast_category": "commit"})
    assert _errors(exc) == {"forecast_category": [str(svc.ERR_WON_CATEGORY)]}
    with pytest.raises(ValidationError) as exc:
        svc.playbook_stage_update(actor=personas.admin, stage=lost, values={"probability": 5})
    assert _errors(exc) == {"probability": [str(svc.ERR_LOST_PROBABILITY)]}
    with pytest.raises(ValidationError) as exc:
        svc.playbook_stage_update(actor=personas.admin, stage=lost, values={"forecast_category": "won"})
    assert _errors(exc) == {"forecast_category": [str(svc.ERR_LOST_CATEGORY)]}
    with pytest.raises(ValidationError) as exc:
        svc.playbook_stage_update(actor=personas.admin, stage=lost, values={"is_won": True})
    assert "is_lost" in _errors(exc)


def test_an_open_stage_is_never_counted_as_closed(draft, personas):
    for category in ("won", "lost"):
        with pytest.raises(ValidationError) as exc:
            svc.playbook_stage_add(
                actor=personas.admin, playbook=draft, values=_open(forecast_category=category)
            )
        assert _errors(exc) == {"forecast_category": [str(svc.ERR_OPEN_CATEGORY)]}
    with pytest.raises(ValidationError) as exc:
        svc.playbook_stage_add(actor=personas.admin, playbook=draft, values=_open(forecast_category="maybe"))
    assert _errors(exc) == {"forecast_category": [str(svc.ERR_CATEGORY)]}


def test_a_second_won_or_lost_stage_is_refused(draft, personas):
    with pytest.raises(ValidationError) as exc:
        svc.playbook_stage_add(
            actor=personas.admin,
            playbook=draft,
            values={"code": "won2", "name": "赢单2", "probability": 100, "is_won": True},
        )
    assert _errors(exc) == {"is_won": [str(svc.ERR_SECOND_WON % {"name": "赢单"})]}
    with pytest.raises(ValidationError) as exc:
        svc.playbook_stage_add(
            actor=personas.admin,
            playbook=draft,
            values={"code": "lost2", "name": "输单2", "probability": 0, "is_lost": True},
        )
    assert _errors(exc) == {"is_lost": [str(svc.ERR_SECOND_LOST % {"name": "输单"})]}


def test_a_closing_stage_has_no_checklist_and_never_stalls(draft, personas):
    won = stage_of(draft, "won")
    with pytest.raises(ValidationError) as exc:
        svc.playbook_item_add(actor=personas.admin, stage=won, values={"label": "合同盖章"})
    assert _errors(exc) == {"stage": [str(svc.ERR_CLOSING_ITEMS)]}
    needs = stage_of(draft, "needs")
    with pytest.raises(ValidationError) as exc:  # it has items
        svc.playbook_stage_update(
            actor=personas.admin,
            stage=needs,
            values={"is_lost": True, "probability": 0, "forecast_category": "lost", "code": "needs"},
        )
    assert "is_lost" in _errors(exc)
    svc.playbook_stage_update(actor=personas.admin, stage=won, values={"stall_days": 10})
    won.refresh_from_db()
    assert won.stall_days is None


def test_stall_days_are_whole_days(draft, personas):
    for bad in ("0", "1.5", "x", 4000):
        with pytest.raises(ValidationError) as exc:
            svc.playbook_stage_add(actor=personas.admin, playbook=draft, values=_open(stall_days=bad))
        assert _errors(exc) == {"stall_days": [str(svc.ERR_STALL)]}
    stage = svc.playbook_stage_add(actor=personas.admin, playbook=draft, values=_open(stall_days="21"))
    assert stage.stall_days == 21


# --- rules on the whole process --------------------------------------------------------------------------


def test_probabilities_never_go_down_over_the_open_stages(draft, personas):
    assert svc.playbook_problems(draft) == {}
    needs = stage_of(draft, "needs")
    svc.playbook_stage_update(actor=personas.admin, stage=needs, values={"probability": "50"})
    problems = svc.playbook_problems(draft)
    assert list(problems) == ["stages.proposal.probability"]
    assert "需求分析" in problems["stages.proposal.probability"][0]
    with pytest.raises(ValidationError) as exc:
        svc.playbook_activate(actor=personas.admin, playbook=draft)
    assert "stages.proposal.probability" in _errors(exc)
    draft.refresh_from_db()
    assert draft.status == PlaybookStatus.DRAFT
    svc.playbook_stage_update(
        actor=personas.admin, stage=needs, values={"probability": "40"}
    )  # equal is fine
    assert svc.playbook_problems(draft) == {}


def test_exactly_one_won_and_one_lost_stage(draft, personas):
    svc.playbook_stage_delete(actor=personas.admin, stage=stage_of(draft, "won"))
    svc.playbook_stage_delete(actor=personas.admin, stage=stage_of(draft, "lost"))
    assert svc.playbook_problems(draft) == {"stages": [str(svc.ERR_NO_WON), str(svc.ERR_NO_LOST)]}
    assert list(draft.stages.order_by("order").values_list("order", flat=True)) == [1, 2, 3, 4]
    with pytest.raises(ValidationError):
        svc.playbook_activate(actor=personas.admin, playbook=draft)
    # two won stages slipped in by hand are reported too
    PlaybookStage.objects.create(
        playbook=draft, code="w1", name="赢1", order=5, probability=100, forecast_category="won", is_won=True
    )
    PlaybookStage.objects.create(
        playbook=draft, code="w2", name="赢2", order=6, probability=100, forecast_category="won", is_won=True
    )
    assert str(svc.ERR_MANY_WON) in svc.playbook_problems(draft)["stages"]


def test_stages_are_reordered_and_closing_stages_stay_last(draft, personas):
    ids = {s.code: s.pk for s in draft.stages.all()}
    order = [ids[c] for c in ("needs", "qualify", "proposal", "negotiation", "won", "lost")]
    svc.playbook_stages_reorder(actor=personas.admin, playbook=draft, stage_ids=order)
    assert list(draft.stages.order_by("order").values_list("code", flat=True))[:2] == ["needs", "qualify"]
    # needs (20) before qualify (10): the probability goes down
    assert "stages.qualify.probability" in svc.playbook_problems(draft)
    with pytest.raises(ValidationError) as exc:
        svc.playbook_stages_reorder(
            actor=personas.admin,
            playbook=draft,
            stage_ids=[ids[c] for c in ("won", "needs", "qualify", "proposal", "negotiation", "lost")],
        )
    assert _errors(exc) == {"stage_ids": [str(svc.ERR_CLOSING_LAST)]}
    with pytest.raises(ValidationError) as exc:
        svc.playbook_stages_reorder(actor=personas.admin, playbook=draft, stage_ids=order[:-1])
    assert _errors(exc) == {"stage_ids": [str(svc.ERR_REORDER)]}
    svc.playbook_stage_move(actor=personas.admin, stage=stage_of(draft, "qualify"), offset=-1)
    assert list(draft.stages.order_by("order").values_list("code", flat=True)) == [
        "qualify",
        "needs",
        "proposal",
        "negotiation",
        "won",
        "lost",
    ]
    assert AuditLog.objects.filter(verb=svc.AUDIT_STAGES, object_id=str(draft.pk)).count() == 2


# --- items ----------------------------------------------------------------------------------------------


def test_a_required_information_item_names_a_requirable_field(draft, personas):
    proposal = stage_of(draft, "proposal")
    with pytest.raises(ValidationError) as exc:
        svc.playbook_item_add(
            actor=personas.admin, stage=proposal, values={"kind": "field", "field": "colour"}
        )
    assert _errors(exc) == {"field": [str(svc.ERR_FIELD)]}
    with pytest.raises(ValidationError) as exc:
        svc.playbook_item_add(
            actor=personas.admin, stage=proposal, values={"kind": "field", "field": "quote"}
        )
    assert _errors(exc) == {"field": [str(svc.ERR_FIELD_TWICE)]}
    item = svc.playbook_item_add(
        actor=personas.admin,
        stage=proposal,
        values={"kind": "field", "field": "solution_engineer", "required": True},
    )
    assert (item.kind, item.field, item.required, item.order) == (
        ItemKind.FIELD,
        "solution_engineer",
        True,
        3,
    )
    assert item.label and item.label_en == "Solution engineer on the team"
    task = svc.playbook_item_add(
        actor=personas.admin, stage=proposal, values={"kind": "task", "field": "quote", "label": "技术交流"}
    )
    assert task.field == ""  # only required information names a field
    with pytest.raises(ValidationError) as exc:
        svc.playbook_item_add(actor=personas.admin, stage=proposal, values={"kind": "task"})
    assert _errors(exc) == {"label": [str(svc.ERR_REQUIRED)]}
    with pytest.raises(ValidationError) as exc:
        svc.playbook_item_add(actor=personas.admin, stage=proposal, values={"kind": "memo", "label": "x"})
    assert _errors(exc) == {"kind": [str(svc.ERR_KIND)]}


def test_items_are_changed_moved_and_deleted_with_an_audit_trail(draft, personas):
    needs = stage_of(draft, "needs")
    survey = needs.items.get(label="现场调研")
    svc.playbook_item_update(
        actor=personas.dora, item=survey, values={"required": False, "label_en": "Survey"}
    )
    survey.refresh_from_db()
    assert (survey.required, survey.label_en, survey.label) == (False, "Survey", "现场调研")
    svc.playbook_item_move(actor=personas.dora, item=survey, offset=-1)
    assert list(needs.items.order_by("order").values_list("label", flat=True)) == ["现场调研", "关键决策人"]
    svc.playbook_item_delete(actor=personas.dora, item=survey)
    assert list(needs.items.values_list("label", flat=True)) == ["关键决策人"]
    logs = AuditLog.objects.filter(verb=svc.AUDIT_ITEMS, object_id=str(draft.pk))
    assert logs.count() == 3
    assert any(f"needs.{survey.pk}.required" in log.changes for log in logs)


# --- activation ---------------------------------------------------------------------------------------------


def test_activating_retires_the_version_in_force(draft, line, personas):
    v1 = Playbook.objects.get(product_line=line, version=1)
    other_line = make_product_line("ENGINE", name="发动机")
    other = make_playbook(other_line)
    default = make_playbook(None)
    svc.playbook_activate(actor=personas.dora, playbook=draft)
    draft.refresh_from_db()
    v1.refresh_from_db()
    other.refresh_from_db()
    default.refresh_from_db()
    assert (draft.status, v1.status) == (PlaybookStatus.ACTIVE, PlaybookStatus.RETIRED)
    assert draft.activated_at is not None
    assert other.status == default.status == PlaybookStatus.ACTIVE  # other lines and the default keep theirs
    assert AuditLog.objects.filter(verb=svc.AUDIT_RETIRED, object_id=str(v1.pk)).exists()
    assert AuditLog.objects.get(verb=svc.AUDIT_ACTIVATED, object_id=str(draft.pk)).extra["retired"] == [1]
    with pytest.raises(ValidationError) as exc:
        svc.playbook_activate(actor=personas.dora, playbook=draft)
    assert exc.value.messages == [str(svc.ERR_NOT_DRAFT)]
    from steelyard.sales.selectors.playbooks import playbook_for

    assert playbook_for(line.pk) == draft


def test_activating_a_default_version_retires_the_previous_default(line, personas):
    v1 = make_playbook(None)
    v2 = svc.playbook_create(actor=personas.admin, product_line=None)
    svc.playbook_activate(actor=personas.admin, playbook=v2)
    v1.refresh_from_db()
    assert v1.status == PlaybookStatus.RETIRED
    assert list(Playbook.objects.filter(status="active").values_list("pk", flat=True)) == [v2.pk]


def test_a_version_opportunities_use_is_never_deleted(draft, personas):
    from steelyard.sales.testing import make_opportunity

    make_opportunity(personas.alice, playbook=draft, stage="needs")  # only possible by hand
    with pytest.raises(ValidationError) as exc:
        svc.playbook_stage_delete(actor=personas.admin, stage=stage_of(draft, "needs"))
    assert exc.value.messages == [str(svc.ERR_IN_USE)]
    with pytest.raises(ValidationError):
        svc.playbook_delete(actor=personas.admin, playbook=draft)
    assert Playbook.objects.filter(pk=draft.pk).exists() and stage_of(draft, "needs")
