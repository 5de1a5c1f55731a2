"""People pages: the scoped list and detail, filters, admin writes, and the rules they keep."""

from __future__ import annotations

import pytest

from steelyard.core.models import AuditLog
from steelyard.org.models import Role, User
from steelyard.org.services import ERR_LAST_ADMIN, ERR_MANAGER_CYCLE, user_update


def _names(response) -> set[str]:
    return {u.username for u in response.context["page"].object_list}


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("admin", {"admin", "dora", "bob", "alice", "charlie"}),
        ("dora", {"dora", "bob", "alice"}),
        ("bob", {"bob", "alice", "dora"}),
        ("alice", {"alice", "bob"}),
        ("charlie", {"charlie"}),
    ],
)
def test_it_lists_the_people_each_persona_may_see(personas, client_for, who, expected):
    r = client_for(getattr(personas, who)).get("/org/users/")
    assert r.status_code == 200
    assert _names(r) == expected


def test_it_hides_alice_from_charlie(personas, client_for):
    c = client_for(personas.charlie)
    assert c.get(f"/org/users/{personas.alice.pk}/").status_code == 404
    r = c.get("/org/users/?q=alice")
    assert _names(r) == set()
    assert f"/org/users/{personas.alice.pk}/" not in r.content.decode()


def test_it_shows_alice_her_manager_and_bob_his_report(personas, client_for):
    assert client_for(personas.alice).get(f"/org/users/{personas.bob.pk}/").status_code == 200
    r = client_for(personas.bob).get(f"/org/users/{personas.alice.pk}/")
    assert r.status_code == 200
    assert "audit_entries" not in r.context  # the audit trail is for administrators
    assert client_for(personas.alice).get(f"/org/users/{personas.dora.pk}/").status_code == 404


def test_it_shows_direct_reports_and_the_audit_trail_to_an_admin(personas, client_for):
    r = client_for(personas.admin).get(f"/org/users/{personas.bob.pk}/")
    assert [p.username for p in r.context["reports"]] == ["alice"]
    assert r.context["audit_entries"] is not None


def test_it_filters_by_unit_including_its_subtree(personas, client_for):
    r = client_for(personas.admin).get(f"/org/users/?unit={personas.east.pk}")
    assert _names(r) == {"dora", "bob", "alice"}


def test_it_ignores_a_unit_outside_the_scope(personas, client_for):
    r = client_for(personas.charlie).get(f"/org/users/?unit={personas.team_a.pk}")
    assert r.context["filter"].errors["unit"]
    assert _names(r) == {"charlie"}


def test_it_filters_by_role_search_and_status(personas, client_for):
    c = client_for(personas.admin)
    assert _names(c.get("/org/users/?role=sales_rep")) == {"alice", "charlie"}
    assert _names(c.get("/org/users/?q=dora@example")) == {"dora"}
    user_update(actor=personas.admin, user=personas.charlie, is_active=False)
    assert _names(c.get("/org/users/?active=0")) == {"charlie"}


def test_it_sorts_by_a_whitelisted_column_only(personas, client_for):
    c = client_for(personas.admin)
    r = c.get("/org/users/?sort=-username")
    assert [u.username for u in r.context["page"]][:2] == ["dora", "charlie"]
    r = c.get("/org/users/?sort=password")
    assert r.status_code == 200


def test_it_lists_people_without_n_plus_one(personas, client_for, django_assert_max_num_queries):
    rep = Role.objects.get(code="sales_rep")
    for i in range(40):
        u = User.objects.create(username=f"u{i:02d}", org_unit=personas.team_a, manager=personas.bob)
        u.roles.add(rep)
    c = client_for(personas.admin)
    c.get("/org/users/")  # warm caches (content types, sessions)
    with django_assert_max_num_queries(10):
        r = c.get("/org/users/")
    assert r.context["page"].count == 45 and len(r.context["page"].object_list) == 25


def test_it_paginates_keeping_the_filters(personas, client_for):
    for i in range(30):
        User.objects.create(username=f"zz{i:02d}", org_unit=personas.team_a)
    r = client_for(personas.admin).get("/org/users/?q=zz&page=2")
    page = r.context["page"]
    assert page.number == 2 and page.count == 30
    assert len(page.object_list) == 5 and not page.has_next
    assert "?q=zz&amp;page=1" in r.content.decode()


def test_it_refuses_user_writes_to_non_administrators(personas, client_for):
    for user in (personas.alice, personas.bob, personas.dora):
        c = client_for(user)
        assert c.get("/org/users/new/").status_code == 403
        assert c.get(f"/org/users/{personas.alice.pk}/edit/").status_code == 403
        assert c.post(f"/org/users/{personas.alice.pk}/active/", {"active": "0"}).status_code == 403


def _form(personas, **overrides):
    data = {
        "username": "erin",
        "display_name": "Erin",
        "email": "erin@example.com",
        "phone": "13800000000",
        "title": "Sales rep",
        "org_unit": personas.team_a.pk,
        "manager": personas.bob.pk,
        "roles": [Role.objects.get(code="sales_rep").pk],
        "language": "en",
        "is_active": "on",
    }
    data.update(overrides)
    return data


def test_it_creates_a_person_with_roles_and_a_password(personas, client_for):
    r = client_for(personas.admin).post(
        "/org/users/new/", _form(personas, password1="Long-enough-pw-42", password2="Long-enough-pw-42")
    )
    erin = User.objects.get(username="erin")
    assert r.status_code == 302 and r["Location"] == f"/org/users/{erin.pk}/"
    assert erin.check_password("Long-enough-pw-42")
    assert erin.get_role_codes() == {"sales_rep"}
    assert AuditLog.objects.filter(object_id=str(erin.pk), action="create").exists()


def test_it_explains_mismatched_passwords_and_taken_usernames(personas, client_for):
    r = client_for(personas.admin).post(
        "/org/users/new/", _form(personas, username="ALICE", password1="Long-enough-pw-42", password2="x")
    )
    assert r.status_code == 200
    assert r.context["form"].errors["username"] and r.context["form"].errors["password2"]


def test_it_edits_a_person_and_records_the_diff(personas, client_for):
    c = client_for(personas.admin)
    r = c.post(
        f"/org/users/{personas.alice.pk}/edit/",
        _form(personas, username="alice", display_name="Alice Wang", email="alice@example.com"),
    )
    assert r.status_code == 302
    entry = AuditLog.objects.filter(object_id=str(personas.alice.pk), action="update").first()
    assert entry.changes["display_name"] == ["Alice", "Alice Wang"]
    assert entry.actor == personas.admin


def test_it_refuses_a_manager_cycle(personas, client_for):
    r = client_for(personas.admin).post(
        f"/org/users/{personas.bob.pk}/edit/",
        _form(
            personas,
            username="bob",
            manager=personas.alice.pk,
            roles=[Role.objects.get(code="sales_manager").pk],
        ),
    )
    assert r.status_code == 200
    assert str(ERR_MANAGER_CYCLE) in r.context["form"].errors["manager"]
    assert User.objects.get(pk=personas.bob.pk).manager == personas.dora


def test_it_protects_the_last_administrator(personas, client_for):
    c = client_for(personas.admin)
    r = c.post(f"/org/users/{personas.admin.pk}/active/", {"active": "0"}, follow=True)
    assert User.objects.get(pk=personas.admin.pk).is_active
    assert str(ERR_LAST_ADMIN) in r.content.decode()


def test_it_deactivates_and_reactivates_a_person(personas, client_for):
    c = client_for(personas.admin)
    c.post(f"/org/users/{personas.charlie.pk}/active/", {"active": "0"})
    assert not User.objects.get(pk=personas.charlie.pk).is_active
    c.post(f"/org/users/{personas.charlie.pk}/active/", {"active": "1"})
    assert User.objects.get(pk=personas.charlie.pk).is_active


def test_it_sets_a_password_and_audits_it(personas, client_for):
    c = client_for(personas.admin)
    r = c.post(
        f"/org/users/{personas.alice.pk}/password/",
        {"password1": "Another-long-pw-7", "password2": "Another-long-pw-7"},
    )
    assert r.status_code == 302
    assert User.objects.get(pk=personas.alice.pk).check_password("Another-long-pw-7")
    assert AuditLog.objects.filter(verb="user.password_set", object_id=str(personas.alice.pk)).exists()
