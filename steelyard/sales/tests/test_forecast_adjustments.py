"""Managers' adjustments: who may set them, the one in force and its history, the adjusted roll-up up the
org tree, the audit trail; and the adjust form (htmx and plain) for every persona."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from steelyard.core.models import AuditLog
from steelyard.org.models import User
from steelyard.sales.models import ForecastAdjustment
from steelyard.sales.selectors import forecast as sel
from steelyard.sales.services.forecast import forecast_adjustment_create
from steelyard.sales.tests.test_forecast_world import build

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(personas):
    return build(personas)


def adjust(actor, *, user=None, unit=None, month, category="commit", amount="0", note=""):
    return forecast_adjustment_create(
        actor=actor,
        subject_user=user,
        subject_unit=unit,
        month=month,
        category=category,
        amount=amount,
        note=note,
    )


def tree_for(user, world):
    return sel.forecast_tree(user, sel.ForecastQuery(months=[world["m0"], world["m1"], world["m2"]]))


def test_latest_adjustment_is_in_force_and_history_is_kept(personas, world):
    p, m1 = personas, world["m1"]
    first = adjust(p.bob, user=p.alice, month=m1 + dt.timedelta(days=5), amount="800000", note="两单推迟")
    second = adjust(p.bob, user=p.alice, month=m1, amount="900000.50")
    assert first.month == m1  # any day of the month is stored as the month
    tree = tree_for(p.bob, world)
    alice = tree.nodes[f"p{p.team_a.pk}-{p.alice.pk}"]
    bob = tree.nodes[f"p{p.team_a.pk}-{p.bob.pk}"]
    team = tree.nodes[f"u{p.team_a.pk}"]
    assert alice.value(m1, "commit_rollup") == 100_000_000  # the system figure stays
    assert alice.adjustment[(m1, "commit")] == second
    assert alice.adjusted_value(m1, "commit", tree.months) == 90_000_050
    # The unit has no adjustment of its own: its people's adjusted (or system) figures.
    assert team.adjusted_value(m1, "commit", tree.months) == 90_000_050 + bob.value(m1, "commit_rollup")
    assert tree.total.adjusted_value(m1, "commit", tree.months) == team.adjusted_value(
        m1, "commit", tree.months
    )
    # Other categories and months are untouched.
    assert alice.adjusted_value(m1, "best_case", tree.months) == alice.value(m1, "best_case_rollup")
    assert alice.adjusted_value(world["m0"], "commit", tree.months) == alice.value(
        world["m0"], "commit_rollup"
    )
    history = sel.adjustment_history(p.bob, sel.Subject("user", p.alice.pk), m1, "commit")
    assert history == [second, first]
    assert AuditLog.objects.filter(object_id=str(first.pk), action="create").exists()


def test_a_unit_adjustment_replaces_the_sum_of_its_children(personas, world):
    p, m1 = personas, world["m1"]
    adjust(p.bob, user=p.alice, month=m1, amount="1")
    adjust(p.dora, unit=p.team_a, month=m1, amount="2000000")
    tree = tree_for(p.dora, world)
    team = tree.nodes[f"u{p.team_a.pk}"]
    shanghai = tree.nodes[f"u{p.shanghai.pk}"]
    east = tree.nodes[f"u{p.east.pk}"]
    assert team.adjusted_value(m1, "commit", tree.months) == 200_000_000
    assert shanghai.adjusted_value(m1, "commit", tree.months) == 200_000_000
    assert east.adjusted_value(m1, "commit", tree.months) == 200_000_000
    assert team.value(m1, "commit_rollup") == 140_000_000  # system, unchanged
    # dora sees bob's adjustment of alice (he is below her) on alice's row
    assert tree.nodes[f"p{p.team_a.pk}-{p.alice.pk}"].adjusted_value(m1, "commit", tree.months) == 100


def test_managers_see_their_own_and_their_reports_adjustments_not_those_above(personas, world):
    p, m1 = personas, world["m1"]
    adjust(p.bob, user=p.alice, month=m1, amount="700000")
    adjust(p.dora, user=p.alice, month=m1, amount="650000")  # later, by bob's manager
    bob_tree = tree_for(p.bob, world)
    dora_tree = tree_for(p.dora, world)
    key = f"p{p.team_a.pk}-{p.alice.pk}"
    assert bob_tree.nodes[key].adjusted_value(m1, "commit", bob_tree.months) == 70_000_000
    assert dora_tree.nodes[key].adjusted_value(m1, "commit", dora_tree.months) == 65_000_000
    assert sel.adjustment_list(p.bob).count() == 1
    assert sel.adjustment_list(p.dora).count() == 2
    # reps never see adjustments, and get no adjusted column
    alice_tree = tree_for(p.alice, world)
    assert sel.adjustment_list(p.alice).count() == 0
    assert not alice_tree.show_adjusted and not alice_tree.can_adjust
    assert sel.adjustment_list(p.charlie).count() == 0


def test_who_may_adjust_whom(personas, world):
    p, m1 = personas, world["m1"]
    with pytest.raises(PermissionDenied):
        adjust(p.alice, user=p.bob, month=m1, amount="1")  # reps can't adjust
    with pytest.raises(PermissionDenied):
        adjust(p.bob, user=p.charlie, month=m1, amount="1")  # outside his team
    with pytest.raises(PermissionDenied):
        adjust(p.bob, user=p.dora, month=m1, amount="1")  # his own manager
    with pytest.raises(PermissionDenied):
        adjust(p.bob, user=p.bob, month=m1, amount="1")  # himself
    with pytest.raises(PermissionDenied):
        adjust(p.bob, unit=p.east, month=m1, amount="1")  # above his unit
    with pytest.raises(PermissionDenied):
        adjust(p.dora, unit=p.team_c, month=m1, amount="1")  # another region
    adjust(p.bob, unit=p.team_a, month=m1, amount="1")
    adjust(p.dora, user=p.bob, month=m1, amount="1")
    adjust(p.dora, unit=p.shanghai, month=m1, amount="1")
    adjust(p.admin, user=p.charlie, month=m1, amount="1")
    assert set(sel.adjustable_users(p.bob)) == {p.alice}
    assert p.charlie not in set(sel.adjustable_users(p.dora))
    assert set(sel.adjustable_units(p.bob)) == {p.team_a}
    assert not sel.adjustable_users(p.alice).exists()
    # the tree offers the pencil exactly where the service would accept it
    tree = tree_for(p.bob, world)
    assert tree.nodes[f"p{p.team_a.pk}-{p.alice.pk}"].adjustable
    assert not tree.nodes[f"p{p.team_a.pk}-{p.bob.pk}"].adjustable
    assert tree.nodes[f"u{p.team_a.pk}"].adjustable


@pytest.mark.parametrize(
    ("category", "amount", "field"),
    [
        ("won", "1", "category"),
        ("lost", "1", "category"),
        ("commit", "-1", "amount"),
        ("commit", "1.005", "amount"),
    ],
)
def test_bad_values_are_refused(personas, world, category, amount, field):
    with pytest.raises(ValidationError) as e:
        adjust(personas.bob, user=personas.alice, month=world["m1"], category=category, amount=amount)
    assert field in e.value.message_dict
    assert ForecastAdjustment.objects.count() == 0


def test_a_person_adjustment_applies_under_their_own_unit(personas, world):
    """A rep who moved keeps deals under the old unit; her adjustment stands for her row in her unit."""
    p, m1 = personas, world["m1"]
    User.objects.filter(pk=p.alice.pk).update(org_unit=p.shanghai)
    adjust(p.dora, user=User.objects.get(pk=p.alice.pk), month=m1, amount="5")
    tree = tree_for(p.dora, world)
    old_row = tree.nodes[f"p{p.team_a.pk}-{p.alice.pk}"]
    assert not old_row.adjustment and not old_row.adjustable
    assert old_row.adjusted_value(m1, "commit", tree.months) == old_row.value(m1, "commit_rollup")


# --- the adjust form ---------------------------------------------------------------------------------

URL = "/sales/forecast/adjust/"


def params(world, subject, category="commit"):
    return {
        "subject": subject,
        "month": world["m1"].strftime("%Y-%m"),
        "category": category,
        "next": "/sales/forecast/",
    }


def test_bob_adjusts_alice_through_the_htmx_form(personas, world, client_for):
    p = personas
    c = client_for(p.bob)
    r = c.get(URL, params(world, f"user:{p.alice.pk}"), HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    html = r.content.decode()
    assert "¥1,000,000.00" in html  # alice's system commit forecast for the month
    assert 'name="amount"' in html and "data-history" not in html
    r = c.post(
        URL,
        {**params(world, f"user:{p.alice.pk}"), "amount": "750000", "note": "客户预算推迟"},
        HTTP_HX_REQUEST="true",
    )
    assert r.status_code == 204 and r["HX-Redirect"] == "/sales/forecast/"
    adj = ForecastAdjustment.objects.get()
    assert (adj.author, adj.subject_user, adj.amount, adj.note) == (
        p.bob,
        p.alice,
        Decimal("750000"),
        "客户预算推迟",
    )
    r = c.get(URL, params(world, f"user:{p.alice.pk}"), HTTP_HX_REQUEST="true")
    assert "data-history" in r.content.decode() and "客户预算推迟" in r.content.decode()


def test_the_form_explains_bad_amounts(personas, world, client_for):
    c = client_for(personas.bob)
    subject = f"unit:{personas.team_a.pk}"
    r = c.post(URL, {**params(world, subject), "amount": "-5"}, HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and "invalid-feedback" in r.content.decode()
    r = c.post(URL, {**params(world, subject), "amount": "abc"})
    assert r.status_code == 400
    assert ForecastAdjustment.objects.count() == 0
    r = c.post(URL, {**params(world, subject), "amount": "12.50"})
    assert r.status_code == 302 and r["Location"] == "/sales/forecast/"
    assert ForecastAdjustment.objects.get().subject_unit == personas.team_a


def test_the_form_refuses_reps_and_subjects_outside_the_scope(personas, world, client_for):
    p = personas
    assert client_for(p.alice).get(URL, params(world, f"user:{p.bob.pk}")).status_code == 403
    assert (
        client_for(p.charlie).post(URL, {**params(world, f"user:{p.alice.pk}"), "amount": "1"}).status_code
        == 403
    )
    bob = client_for(p.bob)
    assert bob.get(URL, params(world, f"user:{p.charlie.pk}")).status_code == 404
    assert bob.post(URL, {**params(world, f"user:{p.charlie.pk}"), "amount": "1"}).status_code == 404
    assert bob.get(URL, params(world, f"unit:{p.east.pk}")).status_code == 404
    assert bob.get(URL, params(world, "user:abc")).status_code == 404
    assert bob.get(URL, params(world, f"user:{p.alice.pk}", category="won")).status_code == 404
    assert bob.get(URL, {**params(world, f"user:{p.alice.pk}"), "month": "2026-13"}).status_code == 404
    # an unsafe "next" is not followed
    r = bob.post(URL, {**params(world, f"user:{p.alice.pk}"), "amount": "1", "next": "https://evil.example/"})
    assert r.status_code == 302 and r["Location"] == "/sales/forecast/"
    assert ForecastAdjustment.objects.count() == 1


def test_adjustments_list_per_persona(personas, world, client_for):
    p, m1 = personas, world["m1"]
    adjust(p.bob, user=p.alice, month=m1, amount="123456", note="bob-note")
    adjust(p.admin, user=p.charlie, month=m1, amount="654321", note="admin-note")
    page = "/sales/forecast/adjustments/"
    bob = client_for(p.bob).get(page).content.decode()
    assert "bob-note" in bob and "admin-note" not in bob
    dora = client_for(p.dora).get(page).content.decode()
    assert "bob-note" in dora and "admin-note" not in dora
    alice = client_for(p.alice).get(page)
    assert alice.status_code == 200 and "bob-note" not in alice.content.decode()
    charlie = client_for(p.charlie).get(page).content.decode()
    assert "admin-note" not in charlie
    admin = client_for(p.admin).get(page, {"subject_user": p.charlie.pk}).content.decode()
    assert "admin-note" in admin and "bob-note" not in admin
    filtered = client_for(p.dora).get(page, {"month": m1.strftime("%Y-%m"), "category": "best_case"})
    assert "bob-note" not in filtered.content.decode()


def test_the_form_is_a_page_of_its_own_without_htmx(personas, world, client_for):
    r = client_for(personas.dora).get(URL, params(world, f"unit:{personas.team_a.pk}"))
    html = r.content.decode()
    assert r.status_code == 200 and "data-adjust-form" in html and 'id="main"' in html
    assert "¥1,400,000.00" in html  # the team's commit forecast for the month: alice's 1,000k + bob's 400k
