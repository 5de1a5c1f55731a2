"""visible_to: own / team / subtree / all, deny by default, and the extra clause for plug-ins."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser

from steelyard.core.models import AuditLog
from steelyard.core.scopes import Scope, user_scope
from steelyard.core.services.audit import audit_record
from steelyard.org.models import OrgUnit, User


def _rows_by(personas):
    return {
        p.username: audit_record(actor=p, action="action", verb="test")
        for p in (personas.alice, personas.bob, personas.charlie, personas.dora, personas.admin)
    }


def _visible(user):
    return set(
        AuditLog.objects.visible_to(user).filter(verb="test").values_list("actor__username", flat=True)
    )


def test_it_gives_each_role_its_scope(personas):
    assert user_scope(personas.alice) == Scope.OWN
    assert user_scope(personas.bob) == Scope.TEAM
    assert user_scope(personas.dora) == Scope.SUBTREE
    assert user_scope(personas.admin) == Scope.ALL
    assert user_scope(AnonymousUser()) is None


def test_it_limits_an_owner_to_own_records(personas):
    _rows_by(personas)
    assert _visible(personas.alice) == {"alice"}
    assert _visible(personas.charlie) == {"charlie"}


def test_it_lets_a_manager_see_the_team(personas):
    _rows_by(personas)
    assert _visible(personas.bob) == {"alice", "bob"}


def test_it_lets_a_director_see_the_subtree(personas):
    _rows_by(personas)
    assert _visible(personas.dora) == {"alice", "bob", "dora"}


def test_it_lets_an_administrator_see_everything(personas):
    _rows_by(personas)
    assert _visible(personas.admin) == {"alice", "bob", "charlie", "dora", "admin"}


def test_it_shows_nothing_to_anonymous_or_inactive_users(personas):
    _rows_by(personas)
    assert _visible(AnonymousUser()) == set()
    personas.alice.is_active = False
    personas.alice.save()
    fresh = User.objects.get(pk=personas.alice.pk)
    assert _visible(fresh) == set()


def test_it_keeps_the_subtree_query_to_one_indexed_prefix(personas, django_assert_num_queries):
    with django_assert_num_queries(1):
        names = set(
            OrgUnit.objects.filter(path__startswith=personas.east.path).values_list("code", flat=True)
        )
    assert names == {"east", "sh", "sh-crane"}


def test_it_shows_a_user_their_manager_and_reports(personas):
    visible = set(User.objects.visible_to(personas.alice).values_list("username", flat=True))
    assert visible == {"alice", "bob"}
    assert "alice" not in set(User.objects.visible_to(personas.charlie).values_list("username", flat=True))
