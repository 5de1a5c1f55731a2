"""Strategy menu services: versions copied as drafts, validated rules, locked history, activation, audit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError

from steelyard.core.models import AuditLog
from steelyard.orders.testing import make_product_line
from steelyard.tiering.models import MenuStatus, StrategyMenu, StrategyRule
from steelyard.tiering.selectors.strategy import menu_in_force
from steelyard.tiering.services import strategy as svc
from steelyard.tiering.tests.strategy_testing import clear_menus, make_menu

pytestmark = pytest.mark.django_db

TZ = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2027, 5, 10, 10, 0, tzinfo=TZ)
TODAY = NOW.date()


@pytest.fixture
def v1(db):
    clear_menus()
    return make_menu(
        1,
        {
            "key": {"max_discount_pct": 10, "pool_recycle_days": 120, "entitlements": ["季度回顾"]},
            "": {"max_discount_pct": 3},
        },
        effective_from=dt.date(2027, 1, 1),
    )


def _verbs(menu: StrategyMenu) -> list[str]:
    return list(
        AuditLog.objects.filter(object_id=str(menu.pk), verb__startswith="tiering.strategy_menu")
        .order_by("pk")
        .values_list("verb", flat=True)
    )


@time_machine.travel(NOW, tick=False)
def test_a_new_version_is_a_draft_copy_of_the_version_in_force(personas, v1):
    draft = svc.strategy_menu_create(actor=personas.dora, notes="年度调整")
    assert (draft.version, draft.status, draft.name) == (2, MenuStatus.DRAFT, v1.name)
    copied = {(r.tier, r.max_discount_pct, tuple(r.entitlements)) for r in draft.rules.all()}
    assert copied == {("key", Decimal("10.00"), ("季度回顾",)), ("", Decimal("3.00"), ())}
    assert _verbs(draft) == [svc.AUDIT_CREATED]
    # Drafts are not in force.
    assert menu_in_force(TODAY).version == 1
    third = svc.strategy_menu_create(actor=personas.admin, name="试行", source=draft)
    assert third.version == 3 and third.rules.count() == 2


@time_machine.travel(NOW, tick=False)
def test_the_first_version_starts_with_a_row_per_tier(personas, db):
    clear_menus()
    draft = svc.strategy_menu_create(actor=personas.admin)
    tiers = set(draft.rules.values_list("tier", flat=True))
    assert {"strategic", "key", "regular", "potential", ""} <= tiers  # the shipped global model's tiers


def test_only_administrators_and_sales_directors_edit(personas, v1):
    for user in (personas.alice, personas.bob, personas.charlie):
        with pytest.raises(PermissionDenied):
            svc.strategy_menu_create(actor=user)
    draft = svc.strategy_menu_create(actor=personas.dora)
    with pytest.raises(PermissionDenied):
        svc.strategy_rule_set(actor=personas.bob, menu=draft, tier="key", values={"max_discount_pct": 50})
    with pytest.raises(PermissionDenied):
        svc.strategy_menu_activate(actor=personas.alice, menu=draft)
    assert draft.rules.get(tier="key").max_discount_pct == Decimal("10.00")


def test_rules_are_validated_field_by_field(personas, v1):
    draft = svc.strategy_menu_create(actor=personas.dora)
    with pytest.raises(ValidationError) as e:
        svc.strategy_rule_set(
            actor=personas.dora,
            menu=draft,
            tier="key",
            values={
                "max_discount_pct": "101",
                "approval_chain": ["sales_manager", "chief_wizard"],
                "pool_recycle_days": 0,
                "visit_every_days": -3,
                "payment_terms_days": -1,
                "delivery_priority": 0,
                "credit_limit": "-5",
                "visitor_seniority": "intern",
            },
        )
    errors = e.value.message_dict
    assert set(errors) == {
        "max_discount_pct",
        "approval_chain",
        "pool_recycle_days",
        "visit_every_days",
        "payment_terms_days",
        "delivery_priority",
        "credit_limit",
        "visitor_seniority",
    }
    assert "chief_wizard" in errors["approval_chain"][0]
    assert draft.rules.get(tier="key").max_discount_pct == Decimal("10.00")  # nothing written
    with pytest.raises(ValidationError):
        svc.strategy_rule_set(actor=personas.dora, menu=draft, tier="x" * 21, values={})
    with pytest.raises(ValidationError):
        svc.strategy_rule_set(actor=personas.dora, menu=draft, tier="key", product_line=999999, values={})


def test_a_draft_rule_is_upserted_and_audited(personas, v1):
    line = make_product_line("ENGINE")
    draft = svc.strategy_menu_create(actor=personas.dora)
    rule = svc.strategy_rule_set(
        actor=personas.dora,
        menu=draft,
        tier="key",
        product_line=line,
        values={
            "max_discount_pct": "12.5",
            "approval_chain": "sales_manager, sales_director",
            "entitlements": "A\n\nB",
        },
    )
    assert rule.approval_chain == ["sales_manager", "sales_director"] and rule.entitlements == ["A", "B"]
    again = svc.strategy_rule_set(
        actor=personas.dora, menu=draft, tier="key", product_line=line.pk, values={"max_discount_pct": 15}
    )
    assert again.pk == rule.pk and again.max_discount_pct == Decimal("15.00")
    log = AuditLog.objects.filter(object_id=str(draft.pk), verb=svc.AUDIT_RULES).order_by("pk").last()
    assert log.changes == {"key/ENGINE.max_discount_pct": ["12.50", "15.00"]}
    assert log.actor == personas.dora
    svc.strategy_rule_delete(actor=personas.dora, rule=again)
    assert not draft.rules.filter(product_line=line).exists()


def test_a_version_in_force_or_retired_is_never_edited(personas, v1):
    rule = v1.rules.get(tier="key")
    with pytest.raises(ValidationError) as e:
        svc.strategy_rule_set(actor=personas.admin, menu=v1, tier="key", values={"max_discount_pct": 1})
    assert e.value.code == "menu_locked"
    for call in (
        lambda: svc.strategy_rule_delete(actor=personas.admin, rule=rule),
        lambda: svc.strategy_menu_update(actor=personas.admin, menu=v1, name="x"),
        lambda: svc.strategy_menu_delete(actor=personas.admin, menu=v1),
        lambda: svc.strategy_rules_patch(
            actor=personas.admin, menu=v1, rules=[{"tier": "key", "delete": True}]
        ),
        lambda: svc.strategy_menu_activate(actor=personas.admin, menu=v1),
    ):
        with pytest.raises(ValidationError):
            call()
    assert StrategyRule.objects.filter(menu=v1).count() == 2


def test_a_rules_patch_is_all_or_nothing(personas, v1):
    draft = svc.strategy_menu_create(actor=personas.dora)
    with pytest.raises(ValidationError) as e:
        svc.strategy_rules_patch(
            actor=personas.dora,
            menu=draft,
            rules=[{"tier": "key", "max_discount_pct": 20}, {"tier": "regular", "pool_recycle_days": 0}],
        )
    assert "rules.1.pool_recycle_days" in e.value.message_dict
    assert draft.rules.get(tier="key").max_discount_pct == Decimal("10.00")
    svc.strategy_rules_patch(
        actor=personas.dora,
        menu=draft,
        rules=[{"tier": "key", "max_discount_pct": 20}, {"tier": "", "delete": True}, {"tier": "regular"}],
    )
    assert dict(draft.rules.values_list("tier", "max_discount_pct")) == {
        "key": Decimal("20.00"),
        "regular": Decimal("0.00"),
    }


@time_machine.travel(NOW, tick=False)
def test_activating_today_ends_and_retires_the_previous_version(personas, v1):
    draft = svc.strategy_menu_create(actor=personas.dora)
    svc.strategy_rule_set(actor=personas.dora, menu=draft, tier="key", values={"max_discount_pct": 12})
    with pytest.raises(ValidationError):
        svc.strategy_menu_activate(
            actor=personas.dora, menu=draft, effective_from=TODAY - dt.timedelta(days=1)
        )
    menu = svc.strategy_menu_activate(actor=personas.dora, menu=draft)
    v1.refresh_from_db()
    assert (menu.status, menu.effective_from, menu.effective_to) == (MenuStatus.ACTIVE, TODAY, None)
    assert (v1.status, v1.effective_to) == (MenuStatus.RETIRED, TODAY - dt.timedelta(days=1))
    assert menu_in_force(TODAY).version == 2
    assert menu_in_force(TODAY - dt.timedelta(days=1)).version == 1  # history
    assert svc.AUDIT_ACTIVATED in _verbs(menu) and svc.AUDIT_APPLIED in _verbs(menu)
    assert svc.AUDIT_RETIRED in _verbs(v1)
    with pytest.raises(ValidationError):
        svc.strategy_menu_activate(actor=personas.dora, menu=menu)  # no longer a draft


@time_machine.travel(NOW, tick=False)
def test_activating_for_a_later_date_schedules_it(personas, v1):
    start = TODAY + dt.timedelta(days=20)
    draft = svc.strategy_menu_create(actor=personas.dora)
    menu = svc.strategy_menu_activate(actor=personas.dora, menu=draft, effective_from=start)
    v1.refresh_from_db()
    assert v1.status == MenuStatus.ACTIVE and v1.effective_to == start - dt.timedelta(days=1)
    assert menu_in_force(TODAY).version == 1
    assert menu_in_force(start).version == 2
    assert menu.apply_job is None  # applied by the nightly roll on its date
    # A later activation that starts earlier replaces the scheduled one before it ever starts.
    other = svc.strategy_menu_create(actor=personas.dora, source=v1)
    svc.strategy_menu_activate(actor=personas.dora, menu=other, effective_from=TODAY + dt.timedelta(days=5))
    menu.refresh_from_db()
    assert menu.status == MenuStatus.RETIRED and menu.effective_to < menu.effective_from
    assert menu_in_force(start).version == 3


def test_an_empty_draft_cannot_be_activated_and_a_draft_can_be_discarded(personas, v1):
    draft = svc.strategy_menu_create(actor=personas.dora)
    draft.rules.all().delete()
    with pytest.raises(ValidationError) as e:
        svc.strategy_menu_activate(actor=personas.dora, menu=draft)
    assert e.value.code == "no_rules"
    pk = draft.pk
    svc.strategy_menu_delete(actor=personas.dora, menu=draft)
    assert not StrategyMenu.objects.filter(pk=pk).exists()
    assert AuditLog.objects.filter(object_id=str(pk), verb=svc.AUDIT_DELETED).exists()


@time_machine.travel(NOW, tick=False)
def test_a_draft_can_be_renamed_and_planned(personas, v1):
    draft = svc.strategy_menu_create(actor=personas.dora)
    svc.strategy_menu_update(
        actor=personas.dora, menu=draft, name="2027 下半年", effective_from=dt.date(2027, 7, 1)
    )
    draft.refresh_from_db()
    assert (draft.name, draft.effective_from) == ("2027 下半年", dt.date(2027, 7, 1))
    with pytest.raises(ValidationError):
        svc.strategy_menu_update(actor=personas.dora, menu=draft, name=" ")
    with pytest.raises(ValidationError):
        svc.strategy_menu_update(actor=personas.dora, menu=draft, effective_from=dt.date(2027, 1, 1))
