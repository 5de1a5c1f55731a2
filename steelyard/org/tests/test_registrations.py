"""What org adds to the shell: menu entries, scoped search providers, home widgets."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from steelyard.core.registry import registry
from steelyard.org.registrations import search_units, search_users
from steelyard.org.services import qualification_save, user_qualification_grant


def _menu_keys(user) -> set[str]:
    return {m.key for m in registry.menu_for(user)}


def test_it_shows_admin_menu_items_only_to_administrators(personas):
    assert {"org.users", "org.units", "org.positions", "org.roles", "core.audit"} <= _menu_keys(
        personas.admin
    )
    assert "org.roles" not in _menu_keys(personas.alice)
    assert "core.audit" not in _menu_keys(personas.bob)
    assert "org.users" in _menu_keys(personas.charlie)


def test_it_searches_only_people_the_searcher_may_see(personas):
    assert [r.title for r in search_users(personas.bob, "alice", 10)] == ["Alice"]
    assert search_users(personas.charlie, "alice", 10) == []
    assert search_users(personas.charlie, "example.com", 10)[0].title == "Charlie"
    assert len(search_users(personas.admin, "example.com", 10)) == 5


def test_it_searches_units_in_scope(personas):
    assert [r.title for r in search_units(personas.alice, "crane", 10)] == ["Shanghai Crane Team"]
    assert search_units(personas.charlie, "crane", 10) == []


def test_it_serves_search_through_the_global_box(personas, client_for):
    r = client_for(personas.charlie).get("/search/?q=alice")
    assert r.status_code == 200
    assert f"/org/users/{personas.alice.pk}/" not in r.content.decode()
    r = client_for(personas.bob).get("/search/?q=alice")
    assert f"/org/users/{personas.alice.pk}/" in r.content.decode()


def test_it_shows_home_widgets_by_role(personas, client_for):
    qual = qualification_save(actor=personas.admin, code="q1", name="Rigging", validity_months=12)
    today = timezone.localdate()
    user_qualification_grant(
        actor=personas.admin,
        user=personas.alice,
        qualification=qual,
        obtained_on=today - dt.timedelta(days=350),
        expires_on=today + dt.timedelta(days=5),
    )
    bob_home = client_for(personas.bob).get("/").content.decode()
    assert 'data-widget="org-my-team"' in bob_home and "Alice" in bob_home
    assert "Rigging" in bob_home  # the team's expiring qualification
    alice_home = client_for(personas.alice).get("/").content.decode()
    assert 'data-widget="org-my-team"' not in alice_home and "Rigging" in alice_home
    charlie_home = client_for(personas.charlie).get("/").content.decode()
    assert "Rigging" not in charlie_home and 'data-widget="org-glance"' not in charlie_home
    admin = client_for(personas.admin).get("/")
    assert 'data-widget="org-glance"' in admin.content.decode()
    glance = next(w for w in admin.context["widgets"] if w["widget"].key == "org.glance")["context"]
    assert {r.code: r.user_count for r in glance["roles"]}["sales_rep"] == 2
    assert glance["active_users"] == 5
