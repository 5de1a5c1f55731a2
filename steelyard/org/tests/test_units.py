"""Org-unit pages: the scoped tree, create/edit/move, deactivation rules, admin-only writes."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.utils.translation import gettext, override

from steelyard.core.models import AuditLog
from steelyard.org.models import OrgUnit, User
from steelyard.org.services import org_unit_update


def _codes(response) -> set[str]:
    return {u.code for u in response.context["page"].object_list}


def test_it_shows_the_whole_tree_to_an_administrator(personas, client_for):
    r = client_for(personas.admin).get("/org/units/")
    assert r.status_code == 200
    assert _codes(r) == {"grp", "east", "sh", "sh-crane", "north", "bj", "bj-engine"}
    assert b"tree-indent-3" in r.content


def test_it_shows_a_director_her_subtree_and_her_ancestors(personas, client_for):
    r = client_for(personas.dora).get("/org/units/")
    assert _codes(r) == {"grp", "east", "sh", "sh-crane"}


def test_it_shows_an_outsider_only_his_own_branch(personas, client_for):
    r = client_for(personas.charlie).get("/org/units/")
    assert "sh-crane" not in _codes(r)
    assert "bj-engine" in _codes(r)


def test_it_counts_active_members(personas, client_for):
    r = client_for(personas.admin).get("/org/units/")
    counts = {u.code: u.member_count for u in r.context["page"].object_list}
    assert counts["sh-crane"] == 2  # bob and alice


def test_it_filters_the_tree_by_kind(personas, client_for):
    r = client_for(personas.admin).get("/org/units/?kind=team")
    assert _codes(r) == {"sh-crane", "bj-engine"}


def test_it_refuses_unit_writes_to_non_administrators(personas, client_for):
    for user in (personas.alice, personas.bob, personas.dora):
        c = client_for(user)
        assert c.get("/org/units/new/").status_code == 403
        assert c.post(f"/org/units/{personas.team_a.pk}/active/", {"active": "0"}).status_code == 403
    assert OrgUnit.objects.get(pk=personas.team_a.pk).is_active


def test_it_creates_a_unit_under_a_parent(personas, client_for):
    r = client_for(personas.admin).post(
        "/org/units/new/",
        {"name": "Hangzhou", "code": "hz", "kind": "branch", "parent": personas.east.pk},
    )
    assert r.status_code == 302
    unit = OrgUnit.objects.get(code="hz")
    assert unit.path.startswith(personas.east.path) and unit.depth == 2
    assert AuditLog.objects.filter(object_repr="Hangzhou", action="create").exists()


def test_it_explains_a_duplicate_code(personas, client_for):
    r = client_for(personas.admin).post("/org/units/new/", {"name": "X", "code": "east", "kind": "branch"})
    assert r.status_code == 200
    assert r.context["form"].errors["code"]


def test_it_moves_a_unit_with_its_whole_subtree(personas, client_for):
    north = OrgUnit.objects.get(code="north")
    r = client_for(personas.admin).post(
        f"/org/units/{personas.shanghai.pk}/edit/",
        {"name": "Shanghai Branch", "code": "sh", "kind": "branch", "parent": north.pk},
    )
    assert r.status_code == 302
    team = OrgUnit.objects.get(pk=personas.team_a.pk)
    sh = OrgUnit.objects.get(pk=personas.shanghai.pk)
    assert sh.path == f"{north.path}{sh.pk:04d}."
    assert team.path == f"{sh.path}{team.pk:04d}."
    assert team.depth == 3
    # The subtree query now finds the team under North China, not East.
    assert OrgUnit.objects.subtree_of(north).filter(pk=team.pk).exists()
    assert not OrgUnit.objects.subtree_of(personas.east).filter(pk=team.pk).exists()


def test_it_refuses_moving_a_unit_under_its_own_sub_unit(personas, client_for):
    r = client_for(personas.admin).post(
        f"/org/units/{personas.east.pk}/edit/",
        {"name": "East China", "code": "east", "kind": "region", "parent": personas.team_a.pk},
    )
    assert r.status_code == 200  # the sub-unit is not even offered as a parent
    assert r.context["form"].errors["parent"]
    with pytest.raises(ValidationError):
        org_unit_update(actor=personas.admin, unit=personas.east, parent=personas.team_a)


def test_it_refuses_to_deactivate_a_unit_with_active_members(personas, client_for):
    r = client_for(personas.admin).post(
        f"/org/units/{personas.team_a.pk}/active/", {"active": "0"}, follow=True
    )
    assert OrgUnit.objects.get(pk=personas.team_a.pk).is_active
    with override("zh-hans"):
        expected = gettext("This unit still has active members or sub-units; move them first.")
    assert expected in r.content.decode()


def test_it_deactivates_an_empty_unit(personas, client_for):
    empty = OrgUnit(name="Empty", code="empty", kind="team", parent=personas.shanghai)
    empty.save()
    client_for(personas.admin).post(f"/org/units/{empty.pk}/active/", {"active": "0"})
    assert not OrgUnit.objects.get(pk=empty.pk).is_active
    assert AuditLog.objects.filter(object_id=str(empty.pk), changes__has_key="is_active").exists() or (
        AuditLog.objects.filter(object_id=str(empty.pk), action="update").exists()
    )


def test_it_keeps_the_tree_page_to_a_few_queries(personas, client_for, django_assert_max_num_queries):
    c = client_for(personas.admin)
    for i in range(20):
        OrgUnit(name=f"T{i}", code=f"t{i}", kind="team", parent=personas.shanghai).save()
    User.objects.create(username="x", org_unit=personas.team_a)
    with django_assert_max_num_queries(12):
        assert c.get("/org/units/").status_code == 200
