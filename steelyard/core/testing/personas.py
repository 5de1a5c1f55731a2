"""The three people every scoped feature is tested with (after Healthchecks.io).

- alice: a sales rep; owns records.
- bob: alice's manager (sales manager of her team); may see her things.
- charlie: a sales rep in another branch; must see nothing of alice's.
Plus ``admin`` (administrator) and ``dora`` (sales director over alice's region).
"""

from __future__ import annotations

from dataclasses import dataclass

from steelyard.org.models import OrgUnit, Role, User

PASSWORD = "Steelyard-test-pw-1"


@dataclass
class Personas:
    group: OrgUnit
    east: OrgUnit
    shanghai: OrgUnit
    team_a: OrgUnit
    beijing: OrgUnit
    team_c: OrgUnit
    admin: User
    dora: User
    bob: User
    alice: User
    charlie: User


def _unit(name: str, code: str, kind: str, parent: OrgUnit | None) -> OrgUnit:
    unit = OrgUnit(name=name, code=code, kind=kind, parent=parent)
    unit.save()
    return unit


def _user(
    username: str, unit: OrgUnit | None, role: str, manager: User | None = None, **extra: object
) -> User:
    user = User(
        username=username,
        display_name=username.capitalize(),
        org_unit=unit,
        manager=manager,
        email=f"{username}@example.com",
        **extra,
    )
    user.set_password(PASSWORD)
    user.save()
    user.roles.set([Role.objects.get(code=role)])
    return user


def ensure_roles() -> None:
    """The seeded roles (a test database built with --nomigrations has none)."""
    from steelyard.org.roles import SEEDED_ROLES

    for code, name, scope, machine, _desc in SEEDED_ROLES:
        Role.objects.get_or_create(
            code=code, defaults={"name": name, "data_scope": scope, "is_machine": machine}
        )


def make_personas() -> Personas:
    ensure_roles()
    group = _unit("Steelyard Group", "grp", "group", None)
    east = _unit("East China", "east", "region", group)
    shanghai = _unit("Shanghai Branch", "sh", "branch", east)
    team_a = _unit("Shanghai Crane Team", "sh-crane", "team", shanghai)
    north = _unit("North China", "north", "region", group)
    beijing = _unit("Beijing Branch", "bj", "branch", north)
    team_c = _unit("Beijing Engine Team", "bj-engine", "team", beijing)
    admin = _user("admin", group, "administrator")
    dora = _user("dora", east, "sales_director")
    bob = _user("bob", team_a, "sales_manager", manager=dora)
    alice = _user("alice", team_a, "sales_rep", manager=bob)
    charlie = _user("charlie", team_c, "sales_rep")
    for unit, mgr in ((team_a, bob), (east, dora)):
        unit.manager = mgr
        unit.save()
    return Personas(group, east, shanghai, team_a, beijing, team_c, admin, dora, bob, alice, charlie)
