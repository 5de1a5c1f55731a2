"""``manage.py seed_demo``: the demo company is complete, idempotent and deterministic."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from steelyard.core.demo import DEFAULT_PASSWORD, Seeder, seeders_in_order
from steelyard.core.models import AuditLog
from steelyard.org.demo import DEMO_LOGINS, MACHINE_USERNAME, plan_demo_org
from steelyard.org.models import OrgUnit, User, UserQualification
from steelyard.org.roles import SEEDED_ROLES


@pytest.fixture(autouse=True)
def _fast_hasher(settings) -> None:
    # The real hasher takes ~0.3 s per check; the tests check a dozen passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def seed(**options: object) -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, **options)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    models = [*apps.get_app_config("org").get_models(), AuditLog]
    through = [f.remote_field.through for m in models for f in m._meta.local_many_to_many]
    return {m._meta.label: m._default_manager.count() for m in [*models, *through]}


@pytest.mark.django_db
def test_it_seeds_a_company_with_people_in_every_role() -> None:
    output = seed()

    users = User.objects.filter(username__in=[p.username for p in plan_demo_org(42).people])
    assert users.count() >= 60
    held = set(users.values_list("roles__code", flat=True))
    assert held >= {code for code, *_rest in SEEDED_ROLES}
    for team in OrgUnit.objects.filter(code__startswith="hy", kind="team"):
        assert team.manager is not None, team
        assert team.manager.manager is not None  # team managers report to someone
    director = User.objects.get(username="director")
    assert director.manager is not None and director.manager.roles.filter(code="executive").exists()
    assert User.objects.get(username="rep").manager == User.objects.get(username="manager")
    for username in DEMO_LOGINS:
        assert username in output
    bot = User.objects.get(username=MACHINE_USERNAME)
    assert bot.is_machine and not bot.has_usable_password()
    assert set(bot.roles.values_list("code", flat=True)) == {"integration"}
    assert users.filter(language="en").exists() and users.filter(language="zh-hans").count() > 50
    assert all(u.username.isascii() for u in users)


@pytest.mark.django_db
def test_it_seeds_qualifications_expiring_soon_and_one_expired() -> None:
    seed()

    today = timezone.localdate()
    soon = UserQualification.objects.filter(
        expires_on__gte=today, expires_on__lte=today + dt.timedelta(days=30)
    )
    assert soon.count() >= 3
    assert UserQualification.objects.filter(expires_on__lt=today).count() == 1


@pytest.mark.django_db
def test_it_lets_every_demo_login_sign_in() -> None:
    seed()

    for username in DEMO_LOGINS:
        assert User.objects.get(username=username).check_password(DEFAULT_PASSWORD), username
    response = Client().post("/accounts/login/", {"username": "rep", "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    assert not User.objects.get(username="rep").check_password("wrong")


@pytest.mark.django_db
def test_it_changes_nothing_when_run_twice() -> None:
    seed()
    before = row_counts()

    output = seed()

    assert row_counts() == before
    assert "created=0" in output


@pytest.mark.django_db
def test_it_is_deterministic_by_seed() -> None:
    seed(seed=7)

    plan = plan_demo_org(7)
    assert [p.username for p in plan.people] == [p.username for p in plan_demo_org(7).people]
    assert [p.display_name for p in plan.people] != [p.display_name for p in plan_demo_org(42).people]
    assert set(User.objects.values_list("username", flat=True)) == {p.username for p in plan.people}


def test_it_runs_seeders_after_their_dependencies() -> None:
    def noop(ctx: object) -> None:
        return None

    seeders = {
        "orders": Seeder("orders", noop, after=("customers", "catalog")),
        "customers": Seeder("customers", noop, after=("org",)),
        "org": Seeder("org", noop),
        "catalog": Seeder("catalog", noop, after=("org", "not-installed")),
    }
    assert [s.name for s in seeders_in_order(seeders)] == ["org", "catalog", "customers", "orders"]
    with pytest.raises(ValueError):
        seeders_in_order({"a": Seeder("a", noop, after=("b",)), "b": Seeder("b", noop, after=("a",))})


@pytest.mark.django_db
def test_it_grows_to_a_benchmark_scale_and_changes_nothing_on_a_rerun(monkeypatch) -> None:
    from steelyard.core import demo

    monkeypatch.setitem(demo.AUDIT_ROWS, "M", 3_000)
    seed(scale="M")
    before = row_counts()

    seed(scale="M")

    assert row_counts() == before
    assert before["org.User"] == 200 and before["core.AuditLog"] == 3_000
    for unit in OrgUnit.objects.select_related("parent"):
        assert unit.manager_id is not None, unit
        if unit.parent is not None:
            assert unit.path == f"{unit.parent.path}{unit.pk:04d}." and unit.depth == unit.parent.depth + 1
