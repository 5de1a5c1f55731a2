"""The public pool (公海) engine: the pool clock, the recycle sweep and its warnings, claim / release / lock.

The *pool clock* of a private customer is its stored recycle date (``recycle_at``) with the rule that
will fire (``recycle_trigger``) and the event time it counts from (``recycle_since``). It is computed
from the customer's pool rules for its tier and recomputed only when a qualifying event arrives
(``customer_record_event``), when ownership changes, or when an exclusion starts or ends — never by
re-reading activities. For each trigger the clock counts from the latest of the trigger's event and
``owned_since`` (a freshly claimed customer gets a full period); the earliest date over all triggers wins.

Exclusions keep a customer private (``recycle_at`` None): a manager's lock until a future date, an open
opportunity (when the pool says so), a deal won within the pool's window. Time-bounded exclusions
(lock, won deal) are re-armed by the nightly job (``pool_rearm``) once they end.

Ownership changes are compare-and-set UPDATEs (``... WHERE owner_id IS NULL``), never read-then-write,
so twenty reps claiming one customer at once produce exactly one winner on SQLite and PostgreSQL.

Defaults: a pool created through ``pool_create`` starts with ``DEFAULT_RULES`` for untiered customers
(no visit 45 days, no follow-up 30 days), which its administrators then edit; a pool with no rules
never recycles (unless the strategy menu sets "no visit" days for the customer's tier, below).
The demo seeder creates the demo pool and its rules.

The strategy menu (tiering, ``strategy_for``) is the policy for the "no visit" days: when the menu in
force sets ``pool_recycle_days`` for a customer's tier, those are its "no visit" days in every pool;
the pool's own rules still apply to tiers the menu does not set and to the other triggers. The menu
is read once per pool policy (cached with it in a sweep's ``PolicyCache``), never per customer.
Activating a menu version recomputes the clocks it changes (a background job when it starts at
once; the nightly pool job before its sweep when it starts later) — see
``steelyard.tiering.services.strategy``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from steelyard.core import request_context
from steelyard.core.access import ADMINISTRATOR, user_has_role
from steelyard.core.models import AuditAction, AuditLog
from steelyard.core.services.audit import audit_record, snapshot
from steelyard.core.services.notifications import notify
from steelyard.core.tasks import job_progress
from steelyard.customers.models import Customer, OwnershipAction, OwnershipEvent, Pool, PoolRule, PoolTrigger
from steelyard.org.models import OrgUnit, User, path_prefixes
from steelyard.org.roles import MANAGERS, SALES_DIRECTOR

ERR_NOT_IN_POOL = _("This customer is not in a pool you can claim from.")
ERR_NOT_MEMBER = _("You are not a member of this customer's pool.")
ERR_ALREADY_CLAIMED = _("This customer has just been claimed by someone else.")
ERR_HOLDING_CAP = _("You already hold %(cap)s customers, the most this pool allows. Release one first.")
ERR_CLAIMS_PER_DAY = _("You have used all %(count)s claims for today. Try again tomorrow.")
ERR_COOLDOWN = _("You released this customer recently; you may claim it back from %(date)s.")
ERR_REASON_REQUIRED = _("Please give a reason.")
ERR_NOT_OWNED = _("This customer is already in the pool.")
ERR_RELEASE_FORBIDDEN = _("Only the owner or their manager may return this customer to the pool.")
ERR_NO_POOL = _("This customer has no pool to return to. Ask an administrator to set up a pool for its unit.")
ERR_OWNER_CHANGED = _("The owner of this customer has just changed. Reload the page and try again.")
ERR_LOCK_FORBIDDEN = _("Only managers and pool administrators may lock customers.")
ERR_LOCK_PAST = _("Choose a date after today.")
ERR_UNKNOWN_EVENT = _("Unknown pool event %(event)r.")
ERR_POOL_FORBIDDEN = _("Only pool administrators may change this pool.")
ERR_RULE_DAYS = _("Days must be at least 1.")
ERR_CREATE_FORBIDDEN = _("Only administrators and sales directors over this unit may create a pool for it.")
ERR_NAME_REQUIRED = _("Please give the pool a name.")
ERR_DEACTIVATE_FORBIDDEN = _(
    "Only this pool's administrators and sales directors over its unit may deactivate it."
)
ERR_POOL_NOT_EMPTY = _(
    "This pool still holds %(count)s customers. Have them claimed or assigned before deactivating it."
)
ERR_ALREADY_INACTIVE = _("This pool is already inactive.")

#: qualifying event → the customer field it moves
EVENT_FIELDS = {
    "visit": "last_visit_at",
    "followup": "last_followup_at",
    "opportunity": "last_opportunity_at",
    "deal": "last_deal_at",
}
CLOCK_FIELDS = ("recycle_at", "recycle_trigger", "recycle_since", "pool_id")
TRIGGER_ORDER = [t.value for t in PoolTrigger]
AUDIT_VERB_RECYCLED = "pool.recycled"


# --- the pool of a unit, and its policy --------------------------------------------------------


def pool_for_unit(unit: OrgUnit | None) -> Pool | None:
    """The active pool of the nearest unit up the org tree, the unit itself first (one query)."""
    if unit is None or not unit.path:
        return None
    return (
        Pool.objects.filter(org_unit__path__in=path_prefixes(unit.path), is_active=True)
        .order_by("-org_unit__depth", "pk")
        .first()
    )


@dataclass
class PoolPolicy:
    """What the clock needs from a pool: its exclusions and ``rules[trigger][tier] = days``."""

    pool_id: int
    exclude_won_within_days: int = 0
    exclude_open_opportunity: bool = True
    is_active: bool = True
    rules: dict[str, dict[str, int]] = field(default_factory=dict)
    #: the strategy menu in force (``tiering.selectors.strategy.MenuInForce``), or None
    menu: Any = None

    def days_for(self, trigger: str, tier: str) -> int | None:
        """Days of ``trigger`` for ``tier``: its own rule, else the untiered rule, else the strictest.

        Customers without a tier get the strictest days of the trigger. For "no visit" the strategy
        menu's days for the tier win when the menu sets them.
        """
        if trigger == PoolTrigger.NO_VISIT and self.menu is not None:
            menu_days = self.menu.pool_recycle_days(tier)
            if menu_days:
                return int(menu_days)
        by_tier = self.rules.get(trigger)
        if not by_tier:
            return None
        if tier:
            if tier in by_tier:
                return by_tier[tier]
            if "" in by_tier:
                return by_tier[""]
        return min(by_tier.values())


PolicyCache = dict[int, PoolPolicy | None]


def pool_policy(
    pool_id: int | None, cache: PolicyCache | None = None, *, on: dt.date | None = None
) -> PoolPolicy | None:
    """The policy of a pool on ``on`` (today), read in two queries (the pool with its rules; the
    strategy menu in force); cached in ``cache``. A pool without rules recycles only by the menu."""
    if pool_id is None:
        return None
    if cache is not None and pool_id in cache:
        return cache[pool_id]
    from steelyard.tiering.selectors.strategy import menu_in_force

    rows = list(
        Pool.objects.filter(pk=pool_id).values_list(
            "exclude_won_within_days",
            "exclude_open_opportunity",
            "is_active",
            "rules__trigger",
            "rules__tier",
            "rules__days",
        )
    )
    policy: PoolPolicy | None = None
    if rows:
        won, open_opp, active = rows[0][:3]
        policy = PoolPolicy(pool_id, won, open_opp, active)
        for *_pool, trigger, tier, days in rows:
            if trigger is not None:
                policy.rules.setdefault(trigger, {})[tier or ""] = days
        if active:
            menu = menu_in_force(on)
            policy.menu = menu if menu.menu_id is not None else None
    if cache is not None:
        cache[pool_id] = policy
    return policy


def _latest(*values: dt.datetime | None) -> dt.datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _trigger_event(customer: Customer, trigger: str) -> dt.datetime | None:
    if trigger == PoolTrigger.NO_VISIT:
        return customer.last_visit_at
    if trigger == PoolTrigger.NO_FOLLOWUP:
        return _latest(customer.last_followup_at, customer.last_visit_at)
    if trigger == PoolTrigger.NO_OPPORTUNITY:
        return customer.last_opportunity_at
    if trigger == PoolTrigger.NO_DEAL:
        return customer.last_deal_at
    return None


# --- the clock -------------------------------------------------------------------------------


def _clock(
    customer: Customer, policy: PoolPolicy | None, now: dt.datetime
) -> tuple[dt.date | None, str, dt.datetime | None]:
    """``(recycle_at, trigger, since)`` for ``customer`` under ``policy``; no queries."""
    none: tuple[dt.date | None, str, dt.datetime | None] = (None, "", None)
    if customer.owner_id is None or customer.merged_into_id is not None or policy is None:
        return none
    if not policy.is_active:
        return none
    today = timezone.localdate(now)
    if customer.locked_until is not None and customer.locked_until >= today:
        return none
    if policy.exclude_open_opportunity and customer.has_open_opportunity:
        return none
    if (
        policy.exclude_won_within_days
        and customer.last_deal_at is not None
        and customer.last_deal_at >= now - dt.timedelta(days=policy.exclude_won_within_days)
    ):
        return none
    best = none
    for trigger in TRIGGER_ORDER:
        days = policy.days_for(trigger, customer.tier or "")
        if days is None:
            continue
        # A customer never counted before its owner got it: the full period starts at owned_since.
        base = _latest(_trigger_event(customer, trigger), customer.owned_since) or customer.created_at
        if base is None:
            continue
        due = timezone.localdate(base) + dt.timedelta(days=days)
        if best[0] is None or due < best[0]:
            best = (due, trigger, _trigger_event(customer, trigger))
    return best


def customer_clock_recompute(
    customer: Customer,
    *,
    save: bool = True,
    now: dt.datetime | None = None,
    policies: PolicyCache | None = None,
) -> Customer:
    """Recompute the stored recycle date, trigger and since of ``customer``.

    Reads only the pool's rules (cached in ``policies`` during a sweep). A customer without a pool
    takes the pool of its unit (and keeps it). With ``save`` the changed clock fields are written
    with one UPDATE, and nothing at all when nothing changed.
    """
    now = now or timezone.now()
    # Taken before adopting a pool, so an adopted pool is saved too.
    before = {f: getattr(customer, f) for f in CLOCK_FIELDS}
    if customer.pool_id is None and customer.owner_id is not None and customer.org_unit_id is not None:
        unit = OrgUnit.objects.filter(pk=customer.org_unit_id).only("path").first()
        pool = pool_for_unit(unit)
        if pool is not None:
            customer.pool = pool
    policy = pool_policy(customer.pool_id, policies, on=timezone.localdate(now))
    recycle_at, trigger, since = _clock(customer, policy, now)
    customer.recycle_at, customer.recycle_trigger, customer.recycle_since = recycle_at, trigger, since
    changed = {f: getattr(customer, f) for f in CLOCK_FIELDS if getattr(customer, f) != before[f]}
    if save and changed and customer.pk:
        Customer.objects.filter(pk=customer.pk).update(**changed)
    return customer


@transaction.atomic
def customer_record_event(*, customer: Customer, event: str, at: dt.datetime) -> Customer:
    """A qualifying event (visit, follow-up, new opportunity, deal) happened at ``at``.

    The latest event wins: the field moves only when ``at`` is newer than what is stored (a conditional
    UPDATE, so an older event arriving late never moves the clock back). The clock is then recomputed
    from fresh values (the UPDATE holds the row until commit) and saved only if it changed.
    """
    field_name = EVENT_FIELDS.get(event)
    if field_name is None:
        raise ValidationError(ERR_UNKNOWN_EVENT % {"event": event}, code="unknown_event")
    moved = (
        Customer.objects.filter(pk=customer.pk)
        .filter(Q(**{f"{field_name}__isnull": True}) | Q(**{f"{field_name}__lt": at}))
        .update(**{field_name: at})
    )
    if not moved:
        return customer
    customer.refresh_from_db(
        fields=[
            *EVENT_FIELDS.values(),
            "has_open_opportunity",
            "owner",
            "owned_since",
            "locked_until",
            "merged_into",
            "tier",
            "pool",
            *CLOCK_FIELDS[:3],
        ]
    )
    return customer_clock_recompute(customer)


@transaction.atomic
def customer_set_open_opportunity(*, customer: Customer, has_open: bool) -> Customer:
    """Say whether the customer has an open opportunity (an exclusion when its pool says so)."""
    moved = (
        Customer.objects.filter(pk=customer.pk)
        .exclude(has_open_opportunity=has_open)
        .update(has_open_opportunity=has_open)
    )
    customer.has_open_opportunity = has_open
    if moved:
        customer_clock_recompute(customer)
    return customer


# --- notifications ---------------------------------------------------------------------------


def _home_url() -> str:
    try:
        return reverse("home")
    except NoReverseMatch:
        return ""


def _notify_counts(
    counts: dict[int, int], *, event: str, owner_title: Any, manager_title: Any, actor: Any = None
) -> int:
    """One notification per owner (their count) and one per manager (the sum over their reps)."""
    if not counts:
        return 0
    owners = {u.pk: u for u in User.objects.filter(pk__in=list(counts)).select_related("manager")}
    manager_counts: dict[int, int] = defaultdict(int)
    managers: dict[int, User] = {}
    sent = 0
    url = _home_url()
    for owner_id, n in counts.items():
        owner = owners.get(owner_id)
        if owner is None:
            continue
        sent += len(
            notify(recipients=[owner], title=lambda n=n: owner_title(n), url=url, event=event, actor=actor)
        )
        if owner.manager_id and owner.manager is not None:
            manager_counts[owner.manager_id] += n
            managers[owner.manager_id] = owner.manager
    for manager_id, n in manager_counts.items():
        sent += len(
            notify(
                recipients=[managers[manager_id]],
                title=lambda n=n: manager_title(n),
                url=url,
                event=event,
                actor=actor,
            )
        )
    return sent


# --- warnings --------------------------------------------------------------------------------


def pool_warn(*, now: dt.datetime | None = None, chunk_size: int = 500) -> dict[str, int]:
    """Warn owners and managers of customers returning to the pool within their pool's ``warn_days``.

    A customer is warned once per recycle date: again only when its date moved and came back into the
    window (``recycle_warned_at`` before the current window). Idempotent the same day.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    counts: dict[int, int] = defaultdict(int)
    warned_ids: list[int] = []
    for pool_id, warn_days in Pool.objects.filter(is_active=True, warn_days__gt=0).values_list(
        "pk", "warn_days"
    ):
        rows = Customer.objects.filter(
            pool_id=pool_id,
            owner__isnull=False,
            merged_into__isnull=True,
            recycle_at__isnull=False,
            recycle_at__gte=today,
            recycle_at__lte=today + dt.timedelta(days=warn_days),
        ).values_list("pk", "owner_id", "recycle_at", "recycle_warned_at")
        for pk, owner_id, recycle_at, warned_at in rows.iterator(chunk_size=2000):
            window_start = recycle_at - dt.timedelta(days=warn_days)
            if warned_at is not None and timezone.localdate(warned_at) >= window_start:
                continue
            warned_ids.append(pk)
            counts[owner_id] += 1
    with transaction.atomic():
        for i in range(0, len(warned_ids), chunk_size):
            Customer.objects.filter(pk__in=warned_ids[i : i + chunk_size]).update(recycle_warned_at=now)
        sent = _notify_counts(
            counts,
            event="pool.warning",
            owner_title=lambda n: (
                ngettext(
                    "%(count)d of your customers returns to the pool soon",
                    "%(count)d of your customers return to the pool soon",
                    n,
                )
                % {"count": n}
            ),
            manager_title=lambda n: (
                ngettext(
                    "%(count)d customer of your team returns to the pool soon",
                    "%(count)d customers of your team return to the pool soon",
                    n,
                )
                % {"count": n}
            ),
        )
    return {"warned": len(warned_ids), "notifications": sent}


# --- re-arming expired exclusions ------------------------------------------------------------


def pool_rearm(*, now: dt.datetime | None = None, chunk_size: int = 1000) -> dict[str, int]:
    """Recompute private customers without a recycle date whose lock or won-deal window may have ended."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    policies: PolicyCache = {}
    qs = Customer.objects.filter(
        owner__isnull=False, merged_into__isnull=True, recycle_at__isnull=True, pool__isnull=False
    ).filter(Q(locked_until__lt=today) | Q(last_deal_at__isnull=False))
    changed = 0
    last_pk = 0
    while True:
        batch = list(qs.filter(pk__gt=last_pk).order_by("pk")[:chunk_size])
        if not batch:
            break
        last_pk = batch[-1].pk
        with transaction.atomic():
            for c in batch:
                before = c.recycle_at
                customer_clock_recompute(c, now=now, policies=policies)
                changed += c.recycle_at != before
    return {"rearmed": changed}


# --- the sweep -------------------------------------------------------------------------------


def _sweep_chunk(
    ids: list[int], *, now: dt.datetime, today: dt.date, actor: Any, content_type: ContentType
) -> list[tuple[int, int, str]]:
    """Return the still-due customers among ``ids`` to their pool; ``[(pk, old owner, trigger)]``.

    The rows are locked (PostgreSQL; SQLite's IMMEDIATE transaction holds the write lock) and the due
    condition re-checked, so a visit logged or a claim made meanwhile is never swept away.
    """
    with transaction.atomic():
        rows = list(
            Customer.objects.select_for_update()
            .filter(pk__in=ids, owner__isnull=False, merged_into__isnull=True, recycle_at__lte=today)
            .values_list(
                "pk", "owner_id", "recycle_trigger", "recycle_since", "recycle_at", "legal_name", "short_name"
            )
        )
        if not rows:
            return []
        pks = [r[0] for r in rows]
        Customer.objects.filter(pk__in=pks, owner__isnull=False, recycle_at__lte=today).update(
            owner=None,
            previous_owner=F("owner"),
            released_at=now,
            owned_since=None,
            recycle_at=None,
            recycle_trigger="",
            recycle_since=None,
            recycle_warned_at=None,
            updated_at=now,
        )
        actor_obj = actor if getattr(actor, "pk", None) else None
        OwnershipEvent.objects.bulk_create(
            [
                OwnershipEvent(
                    customer_id=pk,
                    action=OwnershipAction.RECYCLE,
                    from_owner_id=owner_id,
                    to_owner=None,
                    actor=actor_obj,
                    rule=trigger or "",
                )
                for pk, owner_id, trigger, *_rest in rows
            ],
            batch_size=500,
        )
        ctx = request_context.current()
        AuditLog.objects.bulk_create(
            [
                AuditLog(
                    actor=actor_obj,
                    actor_repr=(str(actor_obj) if actor_obj else "system")[:150],
                    action=AuditAction.ACTION,
                    verb=AUDIT_VERB_RECYCLED,
                    content_type=content_type,
                    object_id=str(pk),
                    object_repr=(short or legal)[:200],
                    changes={"owner": [owner_id, None]},
                    request_id=ctx.request_id,
                    ip=ctx.ip,
                    extra={
                        "rule": trigger,
                        "since": since.isoformat() if since else None,
                        "recycle_at": recycle_at.isoformat() if recycle_at else None,
                    },
                )
                for pk, owner_id, trigger, since, recycle_at, legal, short in rows
            ],
            batch_size=500,
        )
    return [(r[0], r[1], r[2]) for r in rows]


def pool_sweep(
    *, now: dt.datetime | None = None, chunk_size: int = 1000, actor: Any = None
) -> dict[str, Any]:
    """Return every due private customer (``recycle_at`` today or earlier) to its pool.

    Works in chunks by primary key, each in its own transaction: a crash leaves finished chunks done
    and the rest for the next run; a second run moves nothing. Each customer gets an ownership event
    and an audit row with the rule that fired; each owner and each manager get one notification.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    content_type = ContentType.objects.get_for_model(Customer)
    due = Customer.objects.filter(owner__isnull=False, recycle_at__lte=today, merged_into__isnull=True)
    total = due.count()
    job_progress(0, total, message="")
    moved = 0
    chunks = 0
    by_rule: dict[str, int] = defaultdict(int)
    counts: dict[int, int] = defaultdict(int)
    last_pk = 0
    try:
        while True:
            ids = list(due.filter(pk__gt=last_pk).order_by("pk").values_list("pk", flat=True)[:chunk_size])
            if not ids:
                break
            last_pk = ids[-1]
            done = _sweep_chunk(ids, now=now, today=today, actor=actor, content_type=content_type)
            chunks += 1
            moved += len(done)
            for _pk, owner_id, trigger in done:
                counts[owner_id] += 1
                by_rule[trigger or ""] += 1
            job_progress(moved, max(total, moved))
    finally:
        # Notify for what did move, even when a later chunk failed.
        _notify_counts(
            dict(counts),
            event="pool.recycled",
            actor=actor,
            owner_title=lambda n: (
                ngettext(
                    "%(count)d of your customers returned to the pool",
                    "%(count)d of your customers returned to the pool",
                    n,
                )
                % {"count": n}
            ),
            manager_title=lambda n: (
                ngettext(
                    "%(count)d customer of your team returned to the pool",
                    "%(count)d customers of your team returned to the pool",
                    n,
                )
                % {"count": n}
            ),
        )
    return {"due": total, "moved": moved, "chunks": chunks, "by_rule": dict(by_rule)}


# --- claim, release, lock --------------------------------------------------------------------


def pool_is_member(pool: Pool, user: Any) -> bool:
    return pool.members.filter(pk=user.pk).exists() or pool.admins.filter(pk=user.pk).exists()


def pool_is_admin(pool: Pool, user: Any) -> bool:
    return user_has_role(user, ADMINISTRATOR) or pool.admins.filter(pk=user.pk).exists()


def holding_count(user: Any) -> int:
    """How many private customers ``user`` holds (counted against a pool's holding cap)."""
    return Customer.objects.filter(owner_id=user.pk, merged_into__isnull=True).count()


def claims_today(user: Any, now: dt.datetime | None = None) -> int:
    now = now or timezone.now()
    start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return OwnershipEvent.objects.filter(
        to_owner_id=user.pk, action=OwnershipAction.CLAIM, at__gte=start
    ).count()


@transaction.atomic
def customer_claim(*, actor: Any, customer_id: int, reason: str = "") -> Customer:
    """Claim a customer from the pool, within the pool's holding cap, daily claims and cooldown.

    The claim itself is one compare-and-set UPDATE (``WHERE owner_id IS NULL``): of any number of
    simultaneous claims exactly one changes the row; the others get ``ERR_ALREADY_CLAIMED``. Only the
    winner writes the ownership event and the audit row.
    """
    now = timezone.now()
    customer = (
        Customer.objects.select_related("pool").filter(pk=customer_id, merged_into__isnull=True).first()
    )
    if customer is None or customer.pool is None or not customer.pool.is_active:
        raise ValidationError(ERR_NOT_IN_POOL, code="not_in_pool")
    pool = customer.pool
    if not pool_is_member(pool, actor):
        raise PermissionDenied(ERR_NOT_MEMBER)
    if customer.owner_id is not None:
        raise ValidationError(ERR_ALREADY_CLAIMED, code="already_claimed")
    # Serialise one rep's own claims (PostgreSQL), so two at once cannot both pass the cap.
    User.objects.select_for_update().filter(pk=actor.pk).values_list("pk", flat=True).first()
    if holding_count(actor) >= pool.holding_cap:
        raise ValidationError(ERR_HOLDING_CAP % {"cap": pool.holding_cap}, code="holding_cap")
    if claims_today(actor, now) >= pool.claims_per_day:
        raise ValidationError(ERR_CLAIMS_PER_DAY % {"count": pool.claims_per_day}, code="claims_per_day")
    if (
        pool.cooldown_days
        and customer.previous_owner_id == actor.pk
        and customer.released_at is not None
        and customer.released_at > now - dt.timedelta(days=pool.cooldown_days)
    ):
        until = timezone.localdate(customer.released_at) + dt.timedelta(days=pool.cooldown_days)
        raise ValidationError(ERR_COOLDOWN % {"date": until.isoformat()}, code="cooldown")
    org_unit_id = actor.org_unit_id or customer.org_unit_id
    won = Customer.objects.filter(pk=customer.pk, owner__isnull=True, merged_into__isnull=True).update(
        owner=actor.pk, org_unit=org_unit_id, owned_since=now, recycle_warned_at=None, updated_at=now
    )
    if not won:
        raise ValidationError(ERR_ALREADY_CLAIMED, code="already_claimed")
    customer.owner, customer.org_unit_id, customer.owned_since = actor, org_unit_id, now
    customer.recycle_warned_at = None
    OwnershipEvent.objects.create(
        customer=customer,
        action=OwnershipAction.CLAIM,
        from_owner=None,
        to_owner=actor,
        actor=actor,
        reason=reason or "",
    )
    audit_record(
        actor=actor,
        action=AuditAction.ACTION,
        obj=customer,
        verb="pool.claimed",
        changes={"owner": [None, actor.pk]},
        extra={"reason": reason or "", "pool": pool.pk},
    )
    return customer_clock_recompute(customer, now=now)


def _can_change(actor: Any, customer: Customer) -> bool:
    from steelyard.customers.services.customers import can_change

    return can_change(actor, customer)


@transaction.atomic
def customer_release(*, actor: Any, customer: Customer, reason: str) -> Customer:
    """Return a private customer to its pool with a reason (its owner, or a manager over it)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ERR_REASON_REQUIRED}, code="reason_required")
    if customer.owner_id is None:
        raise ValidationError(ERR_NOT_OWNED, code="not_owned")
    if customer.owner_id != actor.pk and not _can_change(actor, customer):
        raise PermissionDenied(ERR_RELEASE_FORBIDDEN)
    pool = customer.pool if customer.pool_id else pool_for_unit(customer.org_unit)
    if pool is None:
        raise ValidationError(ERR_NO_POOL, code="no_pool")
    now = timezone.now()
    old_owner = customer.owner_id
    done = Customer.objects.filter(pk=customer.pk, owner_id=old_owner).update(
        owner=None,
        previous_owner=old_owner,
        released_at=now,
        owned_since=None,
        pool=pool,
        recycle_at=None,
        recycle_trigger="",
        recycle_since=None,
        recycle_warned_at=None,
        updated_at=now,
    )
    if not done:
        raise ValidationError(ERR_OWNER_CHANGED, code="owner_changed")
    customer.owner, customer.previous_owner_id, customer.released_at, customer.pool = (
        None,
        old_owner,
        now,
        pool,
    )
    customer.owned_since, customer.recycle_at, customer.recycle_trigger = None, None, ""
    customer.recycle_since = customer.recycle_warned_at = None
    OwnershipEvent.objects.create(
        customer=customer,
        action=OwnershipAction.RELEASE,
        from_owner_id=old_owner,
        to_owner=None,
        actor=actor,
        reason=reason,
    )
    audit_record(
        actor=actor,
        action=AuditAction.ACTION,
        obj=customer,
        verb="pool.released",
        changes={"owner": [old_owner, None]},
        extra={"reason": reason, "pool": pool.pk},
    )
    return customer


def can_lock(actor: Any, customer: Customer) -> bool:
    """Managers over the customer, its pool's administrators and administrators may lock it."""
    if user_has_role(actor, ADMINISTRATOR):
        return True
    if customer.pool_id and customer.pool.admins.filter(pk=actor.pk).exists():
        return True
    return user_has_role(actor, *MANAGERS) and _can_change(actor, customer)


@transaction.atomic
def customer_lock(*, actor: Any, customer: Customer, until: dt.date | None, reason: str) -> Customer:
    """Keep a private customer out of the pool until ``until`` (None lifts the lock), with a reason."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ERR_REASON_REQUIRED}, code="reason_required")
    if not can_lock(actor, customer):
        raise PermissionDenied(ERR_LOCK_FORBIDDEN)
    if until is not None and until <= timezone.localdate():
        raise ValidationError({"until": ERR_LOCK_PAST}, code="lock_past")
    before = snapshot(customer, ["locked_until"])
    Customer.objects.filter(pk=customer.pk).update(locked_until=until)
    customer.locked_until = until
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=customer,
        verb="pool.locked" if until else "pool.unlocked",
        changes={"locked_until": [before["locked_until"], until.isoformat() if until else None]},
        extra={"reason": reason},
    )
    return customer_clock_recompute(customer)


# --- pool administration ---------------------------------------------------------------------

POOL_SETTINGS = (
    "name",
    "holding_cap",
    "claims_per_day",
    "cooldown_days",
    "warn_days",
    "exclude_won_within_days",
    "exclude_open_opportunity",
    "is_active",
)


def pool_recompute(*, pool: Pool, chunk_size: int = 1000) -> int:
    """Recompute the clock of every private customer of ``pool`` (after its rules changed)."""
    policies: PolicyCache = {}
    changed = 0
    last_pk = 0
    qs = Customer.objects.filter(pool=pool, owner__isnull=False, merged_into__isnull=True)
    while True:
        batch = list(qs.filter(pk__gt=last_pk).order_by("pk")[:chunk_size])
        if not batch:
            break
        last_pk = batch[-1].pk
        with transaction.atomic():
            for c in batch:
                before = (c.recycle_at, c.recycle_trigger)
                customer_clock_recompute(c, policies=policies)
                changed += (c.recycle_at, c.recycle_trigger) != before
    return changed


@transaction.atomic
def pool_update(
    *,
    actor: Any,
    pool: Pool,
    members: Iterable[Any] | None = None,
    admins: Iterable[Any] | None = None,
    **values: Any,
) -> Pool:
    """Change a pool's settings and people (pool administrators and administrators)."""
    if not pool_is_admin(pool, actor):
        raise PermissionDenied(ERR_POOL_FORBIDDEN)
    if values.get("is_active") is False and pool.is_active:
        waiting = pool_waiting_count(pool)
        if waiting:
            raise ValidationError(ERR_POOL_NOT_EMPTY % {"count": waiting}, code="pool_not_empty")
    before = snapshot(pool, [f for f in POOL_SETTINGS if f in values])
    for name, value in values.items():
        if name in POOL_SETTINGS:
            setattr(pool, name, value)
    pool.full_clean()
    pool.save()
    extra: dict[str, Any] = {}
    if members is not None:
        pool.members.set(members)
        extra["members"] = sorted(u.pk for u in pool.members.all())
    if admins is not None:
        pool.admins.set(admins)
        extra["admins"] = sorted(u.pk for u in pool.admins.all())
    after = snapshot(pool, before.keys())
    changes = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
    audit_record(
        actor=actor, action=AuditAction.UPDATE, obj=pool, changes=changes, verb="pool.updated", extra=extra
    )
    return pool


@transaction.atomic
def pool_rules_set(*, actor: Any, pool: Pool, rules: dict[tuple[str, str], int | None]) -> Pool:
    """Set a pool's rules: ``{(trigger, tier): days}``; ``None`` days deletes the rule. Recomputes clocks."""
    if not pool_is_admin(pool, actor):
        raise PermissionDenied(ERR_POOL_FORBIDDEN)
    current = {(r.trigger, r.tier): r for r in pool.rules.all()}
    changes: dict[str, list[Any]] = {}
    for (trigger, tier), days in rules.items():
        if trigger not in TRIGGER_ORDER:
            continue
        key = f"{trigger}:{tier or '-'}"
        rule = current.get((trigger, tier))
        if days is None:
            if rule is not None:
                changes[key] = [rule.days, None]
                rule.delete()
            continue
        if days < 1:
            raise ValidationError({"days": ERR_RULE_DAYS}, code="rule_days")
        if rule is None:
            PoolRule.objects.create(pool=pool, trigger=trigger, tier=tier, days=days)
            changes[key] = [None, days]
        elif rule.days != days:
            changes[key] = [rule.days, days]
            rule.days = days
            rule.save(update_fields=["days"])
    if changes:
        audit_record(
            actor=actor, action=AuditAction.UPDATE, obj=pool, changes=changes, verb="pool.rules_changed"
        )
        pool_recompute(pool=pool)
    return pool


# --- creating and deactivating pools ---------------------------------------------------------

#: rules a new pool starts with: ``(trigger, tier, days)``; tier "" = untiered (the strictest)
DEFAULT_RULES: tuple[tuple[str, str, int], ...] = (
    (PoolTrigger.NO_VISIT.value, "", 45),
    (PoolTrigger.NO_FOLLOWUP.value, "", 30),
)
#: settings ``pool_create`` accepts besides the name (a new pool is always active)
CREATE_SETTINGS = tuple(f for f in POOL_SETTINGS if f not in ("name", "is_active"))


def pool_creatable_units(user: Any) -> Any:
    """Org units ``user`` may create a pool for: all for administrators, a director's visible subtree."""
    if user_has_role(user, ADMINISTRATOR):
        return OrgUnit.objects.all()
    if not user_has_role(user, SALES_DIRECTOR):
        return OrgUnit.objects.none()
    return OrgUnit.objects.visible_to(user)


def can_create_pool(user: Any, unit: OrgUnit | None = None) -> bool:
    """Administrators anywhere; sales directors over ``unit`` (or over any unit when ``unit`` is None)."""
    units = pool_creatable_units(user)
    return units.filter(pk=unit.pk).exists() if unit is not None else units.exists()


def can_deactivate_pool(user: Any, pool: Pool) -> bool:
    """The pool's administrators, administrators, and sales directors over its unit."""
    return pool_is_admin(pool, user) or (
        user_has_role(user, SALES_DIRECTOR) and can_create_pool(user, pool.org_unit)
    )


def pool_waiting_count(pool: Pool) -> int:
    """Customers waiting in ``pool`` to be claimed (unowned, not merged away)."""
    return Customer.objects.filter(pool=pool, owner__isnull=True, merged_into__isnull=True).count()


@transaction.atomic
def pool_create(
    *,
    actor: Any,
    name: str,
    org_unit: OrgUnit,
    members: Iterable[Any] = (),
    admins: Iterable[Any] = (),
    **settings: Any,
) -> Pool:
    """Create a pool for ``org_unit`` (administrators, sales directors over the unit) with default rules.

    The pool starts active with ``DEFAULT_RULES`` for untiered customers; other ``settings`` are the
    pool's limits (``CREATE_SETTINGS``). A creator who is not an administrator becomes one of the pool's
    administrators. Audited as a create, the people and rules in its extra.
    """
    if not can_create_pool(actor, org_unit):
        raise PermissionDenied(ERR_CREATE_FORBIDDEN)
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": ERR_NAME_REQUIRED}, code="name_required")
    pool = Pool(name=name, org_unit=org_unit, is_active=True)
    for key, value in settings.items():
        if key in CREATE_SETTINGS and value is not None:
            setattr(pool, key, value)
    pool.full_clean()
    pool.save()
    pool.members.set(list(members))
    admins = list(admins)
    # A director who creates a pool administers it (so they can edit its rules next).
    if not user_has_role(actor, ADMINISTRATOR) and all(getattr(u, "pk", u) != actor.pk for u in admins):
        admins.append(actor)
    pool.admins.set(admins)
    PoolRule.objects.bulk_create(
        [PoolRule(pool=pool, trigger=trigger, tier=tier, days=days) for trigger, tier, days in DEFAULT_RULES]
    )
    after = snapshot(pool, ["name", "org_unit", *CREATE_SETTINGS, "is_active"])
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=pool,
        changes={k: [None, v] for k, v in after.items()},
        verb="pool.created",
        extra={
            "members": sorted(u.pk for u in pool.members.all()),
            "admins": sorted(u.pk for u in pool.admins.all()),
            "rules": {f"{t}:{tier or '-'}": d for t, tier, d in DEFAULT_RULES},
        },
    )
    return pool


def _rehome_private_customers(pool: Pool, chunk_size: int = 1000) -> int:
    """Point the private customers of an inactive ``pool`` at the nearest active pool of their unit."""
    ids = list(
        Customer.objects.filter(pool=pool, owner__isnull=False).order_by("pk").values_list("pk", flat=True)
    )
    Customer.objects.filter(pk__in=ids).update(
        pool=None, recycle_at=None, recycle_trigger="", recycle_since=None
    )
    policies: PolicyCache = {}
    for i in range(0, len(ids), chunk_size):
        for c in Customer.objects.filter(pk__in=ids[i : i + chunk_size]).order_by("pk"):
            customer_clock_recompute(c, policies=policies)
    return len(ids)


@transaction.atomic
def pool_deactivate(*, actor: Any, pool: Pool) -> Pool:
    """Deactivate a pool that holds no waiting customers (its administrators, directors over its unit).

    Refused while customers still wait in it. Its private customers move to the nearest active pool of
    their unit (their clocks recomputed); the pool and its rules stay for history. Audited.
    """
    if not can_deactivate_pool(actor, pool):
        raise PermissionDenied(ERR_DEACTIVATE_FORBIDDEN)
    # Lock the pool row so a release cannot slip a customer in between the count and the update.
    Pool.objects.select_for_update().filter(pk=pool.pk).values_list("pk", flat=True).first()
    if not Pool.objects.filter(pk=pool.pk, is_active=True).exists():
        raise ValidationError(ERR_ALREADY_INACTIVE, code="already_inactive")
    waiting = pool_waiting_count(pool)
    if waiting:
        raise ValidationError(ERR_POOL_NOT_EMPTY % {"count": waiting}, code="pool_not_empty")
    Pool.objects.filter(pk=pool.pk).update(is_active=False)
    pool.is_active = False
    moved = _rehome_private_customers(pool)
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=pool,
        changes={"is_active": [True, False]},
        verb="pool.deactivated",
        extra={"private_customers_moved": moved},
    )
    return pool
