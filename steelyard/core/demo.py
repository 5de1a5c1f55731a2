"""The demo-data framework: per-app seeders that together build a believable manufacturer.

Each app that has demo data puts a ``demo.py`` beside its models and registers one or more
seeders with :func:`seeder`::

    from steelyard.core.demo import DemoContext, seeder

    @seeder("customers", after=("org",))
    def seed_customers(ctx: DemoContext) -> None:
        rep = ctx.login("rep")
        ...

``manage.py seed_demo`` imports every installed app's ``demo`` module, orders the seeders by their
``after`` dependencies and runs them with one :class:`DemoContext`. Seeders must be

- **idempotent**: look records up by their natural key (code, username...) and create only what is
  missing, so a second run creates nothing and reports ``created=0``;
- **deterministic**: draw every random choice from ``ctx.rng``. The context gives each seeder its own
  generator, seeded from ``(seed, seeder name)``, so adding a seeder never changes what another one makes;
- **written through services** with ``actor=None`` (the system) at the demo scale. At the benchmark
  scales (M, L) a seeder may bulk-insert, because going through services row by row would take hours.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from steelyard.org.models import User

SCALES = ("S", "M", "L")
DEFAULT_SEED = 42
DEFAULT_PASSWORD = "steelyard-demo"

SeederFunc = Callable[["DemoContext"], None]


@dataclass(frozen=True)
class Seeder:
    """One registered seeder: a name other seeders can depend on, and the function to run."""

    name: str
    func: SeederFunc
    after: tuple[str, ...] = ()


_REGISTRY: dict[str, Seeder] = {}


def seeder(name: str, *, after: Iterable[str] = ()) -> Callable[[SeederFunc], SeederFunc]:
    """Register ``func`` as the seeder ``name``, to run after the seeders named in ``after``."""

    def register(func: SeederFunc) -> SeederFunc:
        _REGISTRY[name] = Seeder(name=name, func=func, after=tuple(after))
        return func

    return register


def registered_seeders() -> dict[str, Seeder]:
    return dict(_REGISTRY)


def seeders_in_order(seeders: dict[str, Seeder] | None = None) -> list[Seeder]:
    """Seeders sorted so each runs after its dependencies; ties broken by name (stable output).

    A dependency that is not registered is ignored (the app providing it may not be installed);
    a cycle raises ``ValueError``.
    """
    pending = dict(seeders if seeders is not None else _REGISTRY)
    done: set[str] = set()
    ordered: list[Seeder] = []
    while pending:
        # A dependency that is neither done nor pending is not installed: treat it as satisfied.
        ready = sorted(
            name for name, s in pending.items() if all(d in done or d not in pending for d in s.after)
        )
        if not ready:
            raise ValueError(f"Demo seeders have a dependency cycle: {sorted(pending)}")
        for name in ready:
            ordered.append(pending.pop(name))
            done.add(name)
    return ordered


@dataclass
class DemoContext:
    """What every seeder is given: the random source, the scale, the shared password and lookups.

    ``created`` counts the rows each seeder created, by label (e.g. ``"org.user"``); a second run
    of an idempotent seed leaves every count at zero. ``users_by_role`` lists the demo users holding
    each role code, and ``logins`` the well-known demo accounts by their username, so later modules
    can give customers to ``ctx.login("rep")`` or pick any sales rep with ``ctx.pick_user("sales_rep")``.
    ``shared`` is free space for one seeder to hand objects to the ones that run after it.
    """

    seed: int = DEFAULT_SEED
    scale: str = "S"
    password: str = DEFAULT_PASSWORD
    rng: random.Random = field(default_factory=random.Random)
    created: Counter[str] = field(default_factory=Counter)
    users_by_role: dict[str, list[User]] = field(default_factory=dict)
    logins: dict[str, User] = field(default_factory=dict)
    shared: dict[str, Any] = field(default_factory=dict)
    log: Callable[[str], None] = print
    _password_hash: str = ""

    def reseed(self, name: str) -> None:
        """Give the seeder ``name`` its own generator derived from the run's seed."""
        self.rng = random.Random(f"{self.seed}:{name}")

    def count(self, label: str, n: int = 1) -> None:
        if n:
            self.created[label] += n

    @property
    def password_hash(self) -> str:
        """The demo password hashed once: every demo user shares it, and hashing it per user
        (PBKDF2, a million rounds) would make the seed take minutes."""
        if not self._password_hash:
            from django.contrib.auth.hashers import make_password

            self._password_hash = make_password(self.password)
        return self._password_hash

    def add_user(self, user: User, role_codes: Iterable[str]) -> None:
        for code in role_codes:
            bucket = self.users_by_role.setdefault(code, [])
            if all(u.pk != user.pk for u in bucket):
                bucket.append(user)

    def login(self, username: str) -> User:
        return self.logins[username]

    def pick_user(self, role: str) -> User:
        return self.rng.choice(self.users_by_role[role])

    @property
    def total_created(self) -> int:
        return sum(self.created.values())


def discover() -> None:
    """Import every installed app's ``demo`` module so their seeders register."""
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("demo")


def run_demo(
    *,
    scale: str = "S",
    seed: int = DEFAULT_SEED,
    password: str = DEFAULT_PASSWORD,
    log: Callable[[str], None] = print,
    only: Iterable[str] | None = None,
) -> DemoContext:
    """Run every registered seeder in dependency order and return the context with its counts."""
    if scale not in SCALES:
        raise ValueError(f"Unknown scale {scale!r}; choose one of {', '.join(SCALES)}.")
    discover()
    ctx = DemoContext(seed=seed, scale=scale, password=password, log=log)
    wanted = set(only) if only is not None else None
    for s in seeders_in_order():
        if wanted is not None and s.name not in wanted:
            continue
        ctx.reseed(s.name)
        started = time.perf_counter()
        before = ctx.total_created
        s.func(ctx)
        log(f"  {s.name}: {ctx.total_created - before} created in {time.perf_counter() - started:.1f}s")
    return ctx


# --- the core module's own demo data ---------------------------------------------------------

AUDIT_ROWS: dict[str, int] = {"M": 100_000, "L": 1_000_000}
AUDIT_BATCH = 10_000


@seeder("core.audit", after=("org", "org.scale"))
def seed_audit_volume(ctx: DemoContext) -> None:
    """At scale M/L: fill the audit log up to its target size with two years of plausible history.

    Rows are inserted with plain ``executemany`` in batches, oldest first so ids grow with time as
    they do in production. Not ``bulk_create``: building a million model instances costs ~10x the
    insert itself, and ``at`` (``auto_now_add``) must carry historical times. The audit log forbids
    updates and deletes, not inserts.
    """
    import datetime as dt
    import json

    from django.contrib.contenttypes.models import ContentType
    from django.db import connection, transaction
    from django.utils import timezone

    from steelyard.core.models import AuditAction, AuditLog
    from steelyard.org.models import OrgUnit, User

    target = AUDIT_ROWS.get(ctx.scale)
    if not target:
        return
    missing = target - AuditLog.objects.count()
    if missing <= 0:
        return
    rng = ctx.rng
    people = list(User.objects.filter(is_machine=False).values_list("pk", "display_name"))
    units = list(OrgUnit.objects.values_list("pk", "name"))
    user_ct = ContentType.objects.get_for_model(User).pk
    unit_ct = ContentType.objects.get_for_model(OrgUnit).pk
    titles = ["销售客户经理", "高级销售客户经理", "销售经理", "服务工程师", "解决方案工程师"]
    columns = [
        "at",
        "actor_id",
        "actor_repr",
        "action",
        "verb",
        "content_type_id",
        "object_id",
        "object_repr",
        "changes",
        "request_id",
        "ip",
        "extra",
    ]
    json_cast = "::jsonb" if connection.vendor == "postgresql" else ""
    placeholders = ", ".join(f"%s{json_cast}" if c in ("changes", "extra") else "%s" for c in columns)
    # Table and column names are constants of this module; every value goes in as a parameter.
    sql = f"INSERT INTO {AuditLog._meta.db_table} ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608
    tune_sqlite = connection.vendor == "sqlite" and not connection.in_atomic_block
    if tune_sqlite:
        # Index pages of a million-row table outgrow SQLite's default 2 MB page cache; and a bulk
        # load need not wait for fsync at every WAL checkpoint (a crash only loses generated rows).
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size = -262144")
            cursor.execute("PRAGMA synchronous = OFF")
    now = timezone.now()
    span = 730 * 24 * 3600
    done = 0
    while done < missing:
        size = min(AUDIT_BATCH, missing - done)
        rows = []
        for i in range(size):
            at = now - dt.timedelta(seconds=span * (1 - (done + i) / missing) + rng.random())
            actor_pk, actor_name = rng.choice(people)
            roll = rng.random()
            verb, changes = "", "{}"
            if roll < 0.15:
                action, ct, obj = AuditAction.LOGIN, user_ct, (actor_pk, actor_name)
            elif roll < 0.7:
                action, ct, obj = AuditAction.UPDATE, user_ct, rng.choice(people)
                changes = json.dumps({"title": rng.sample(titles, 2)}, ensure_ascii=False)
            elif roll < 0.85:
                action, ct, obj = AuditAction.UPDATE, unit_ct, rng.choice(units)
                changes = json.dumps({"manager_id": [rng.choice(people)[0], rng.choice(people)[0]]})
            else:
                action, ct, obj, verb = AuditAction.ACTION, user_ct, rng.choice(people), "user.password_set"
            ip = f"10.{rng.randrange(1, 40)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            rows.append(
                (
                    at,
                    actor_pk,
                    actor_name,
                    str(action),
                    verb,
                    ct,
                    str(obj[0]),
                    obj[1],
                    changes,
                    f"{rng.getrandbits(64):016x}",
                    ip,
                    "{}",
                )
            )
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, rows)
        done += size
        ctx.count("core.audit_log", size)
        if done % 100_000 == 0 or done == missing:
            ctx.log(f"    audit log: {done:,}/{missing:,}")
    if tune_sqlite:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA synchronous = NORMAL")


@seeder("core.inbox", after=("org",))
def seed_inbox(ctx: DemoContext) -> None:
    """Pending approvals for the administrator and a welcome note for each demo login.

    Runs only once the approvals and notifications services exist (they are built separately);
    until then it does nothing.
    """
    import importlib

    try:
        approvals = importlib.import_module("steelyard.core.services.approvals")
        notifications = importlib.import_module("steelyard.core.services.notifications")
    except ImportError:
        return
    if not hasattr(approvals, "approval_request_create") or not hasattr(notifications, "notify"):
        return
    try:  # the built-in approval kinds register on import (normally via the URLconf)
        importlib.import_module("steelyard.core.approval_kinds")
    except ImportError:
        pass
    if getattr(approvals, "approval_kind_get", lambda kind: None)("org.role_grant") is None:
        return
    _seed_inbox(ctx, approvals, notifications)


# requester login or plan key, subject (plan key of one of their reports), roles asked for, reason
DEMO_ROLE_GRANTS: list[tuple[str, str, list[str], str]] = [
    (
        "manager",
        "rep",
        ["solution_engineer"],
        "需在塔机项目中独立完成工况选型和配置，申请解决方案工程师权限。",
    ),
    ("service", "station-east", ["service_dispatcher"], "华东服务站调度员休产假，站长临时兼任派工。"),
    ("director", "gm-sh", ["marketing"], "上海分公司牵头筹办 bauma China 展会，需要市场活动权限。"),
]


def _seed_inbox(ctx: DemoContext, approvals: Any, notifications: Any) -> None:
    from django.utils.translation import gettext_lazy as _

    from steelyard.core.models import ApprovalRequest, Notification
    from steelyard.org.models import User

    plan = ctx.shared.get("org.plan")
    by_key = {p.key: p.username for p in plan.people} if plan is not None else {}
    for requester_name, subject_key, codes, reason in DEMO_ROLE_GRANTS:
        requester = User.objects.filter(username=requester_name).first()
        subject = User.objects.filter(username=by_key.get(subject_key, subject_key)).first()
        if requester is None or subject is None:
            continue
        if ApprovalRequest.objects.filter(kind="org.role_grant", object_id=str(subject.pk)).exists():
            continue
        approvals.approval_request_create(
            actor=requester,
            subject=subject,
            kind="org.role_grant",
            requested_change={"add_roles": codes},
            reason=reason,
        )
        ctx.count("core.approval_request")
    for user in ctx.logins.values():
        if Notification.objects.filter(recipient=user, event="demo.welcome").exists():
            continue
        notifications.notify(
            recipients=[user],
            title=_("Welcome to the Steelyard demo"),
            body=_(
                "You are signed in to the demo company Hengyuan Heavy Industries. Every person, customer "
                "and number here is fictional: explore freely."
            ),
            url="/",
            event="demo.welcome",
        )
        ctx.count("core.notification")
