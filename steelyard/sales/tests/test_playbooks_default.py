"""The shipped default playbook (migration 0002_default_playbook): an equipment manufacturer's sales process,
bilingual, valid by the editor's own rules; idempotent and reversible."""

from __future__ import annotations

import importlib
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder

from steelyard.sales.models import REQUIRABLE_FIELDS, Opportunity, Playbook, PlaybookItem, PlaybookStatus
from steelyard.sales.services import playbooks as svc
from steelyard.sales.testing import make_opportunity

pytestmark = pytest.mark.django_db
MIGRATION = ("sales", "0002_default_playbook")


def _migration():
    return importlib.import_module("steelyard.sales.migrations.0002_default_playbook")


@pytest.fixture
def state_apps():
    return MigrationExecutor(connection).loader.project_state(MIGRATION, at_end=True).apps


@pytest.fixture
def fresh(state_apps):
    """Nothing shipped (as after ``migrate sales 0001``), whatever earlier tests left."""
    Playbook.objects.all().delete()
    return state_apps


def test_the_migration_is_applied_and_reversible():
    executor = MigrationExecutor(connection)
    migration = executor.loader.get_migration(*MIGRATION)
    assert all(op.reversible for op in migration.operations)
    assert ("sales", "0001_initial") in migration.dependencies
    assert MigrationRecorder(connection).migration_qs.filter(app="sales", name=MIGRATION[1]).exists()


def test_it_ships_the_default_playbook(fresh):
    _migration().create_default(fresh, None)
    pb = Playbook.objects.get(product_line__isnull=True)
    assert (pb.name, pb.version, pb.status) == ("标准销售流程", 1, PlaybookStatus.ACTIVE)
    assert pb.activated_at is not None
    stages = list(pb.stages.order_by("order"))
    assert [(s.code, s.name, s.name_en, s.probability, s.forecast_category) for s in stages] == [
        ("qualify", "线索确认", "Qualify", Decimal("10"), "pipeline"),
        ("needs", "需求分析", "Needs analysis", Decimal("20"), "pipeline"),
        ("proposal", "方案设计", "Solution design", Decimal("40"), "best_case"),
        ("quotation", "商务报价", "Quotation", Decimal("60"), "best_case"),
        ("negotiation", "谈判签约", "Negotiation", Decimal("80"), "commit"),
        ("won", "赢单", "Won", Decimal("100"), "won"),
        ("lost", "输单", "Lost", Decimal("0"), "lost"),
    ]
    assert [(s.is_won, s.is_lost) for s in stages[-2:]] == [(True, False), (False, True)]
    assert all(s.stall_days and s.exit_criteria for s in stages[:5])
    assert all(s.stall_days is None and s.exit_criteria for s in stages[5:])
    required = {
        (i.stage.code, i.kind, i.field or i.label_en)
        for i in PlaybookItem.objects.filter(stage__playbook=pb, required=True).select_related("stage")
    }
    assert {
        ("needs", "field", "decision_makers"),
        ("needs", "task", "Site survey"),
        ("proposal", "field", "solution_engineer"),
        ("proposal", "document", "Technical proposal"),
        ("quotation", "field", "quote"),
        ("negotiation", "field", "competitors"),
        ("negotiation", "document", "Contract draft"),
    } <= required
    items = PlaybookItem.objects.filter(stage__playbook=pb)
    assert all(i.label and i.label_en for i in items)
    assert all(i.field in REQUIRABLE_FIELDS for i in items if i.kind == "field")
    # It passes the editor's own rules, and stays the fallback of lines without a playbook.
    assert svc.playbook_problems(pb) == {}
    from steelyard.sales.selectors.playbooks import playbook_for

    assert playbook_for(None) == pb


def test_running_it_twice_changes_nothing(fresh):
    _migration().create_default(fresh, None)
    counts = (Playbook.objects.count(), PlaybookItem.objects.count())
    _migration().create_default(fresh, None)
    assert (Playbook.objects.count(), PlaybookItem.objects.count()) == counts == (1, 17)


def test_reverse_deletes_it_unless_opportunities_use_it(fresh, personas):
    mig = _migration()
    mig.create_default(fresh, None)
    pb = Playbook.objects.get(product_line__isnull=True)
    make_opportunity(personas.alice, playbook=pb)
    mig.delete_default(fresh, None)
    assert Playbook.objects.filter(pk=pb.pk).exists()  # history is kept
    Opportunity.objects.all().delete()
    mig.delete_default(fresh, None)
    assert not Playbook.objects.exists()
