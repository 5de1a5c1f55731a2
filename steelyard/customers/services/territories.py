"""Territories and ownership changes: routing new customers, manager reassignment, bulk reassignment.

A *territory* matches customers by province, industry and product line (an empty criterion
matches anything); the most specific active territory wins (deepest in the tree, then lowest
``priority``), and its *strategy* picks the owner: the territory owner, the next member in
round-robin order, or the member holding the fewest private customers.

``customer_route`` only reads (leads reuse it); ``customer_assign_auto`` applies it.
``customer_reassign`` moves one customer; ``owner_bulk_reassign`` moves everything a leaving
rep holds, with hooks (``register_reassign_hook``) through which later modules move their own
records (opportunities, …).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from steelyard.core.access import ADMINISTRATOR, user_has_role
from steelyard.core.models import AuditAction
from steelyard.core.scopes import Scope, user_scope
from steelyard.core.services.audit import audit_create, audit_record, audit_update, diff, snapshot
from steelyard.core.services.notifications import notify
from steelyard.core.tasks import enqueue_job, job_progress, task
from steelyard.customers.models import (
    Activity,
    ActivityStatus,
    Customer,
    Industry,
    OwnershipAction,
    OwnershipEvent,
    Territory,
)
from steelyard.customers.regions import PROVINCES, province_key
from steelyard.org.models import OrgUnit, User
from steelyard.org.roles import SALES_DIRECTOR

if TYPE_CHECKING:
    from steelyard.core.models import Job

# A bulk reassignment of more customers than this runs as a background job with progress.
BULK_REASSIGN_JOB_THRESHOLD = 500
BULK_REASSIGN_CHUNK = 500

ERR_TERRITORY_FORBIDDEN = _("Only administrators and sales directors may change territories.")
ERR_CODE_TAKEN = _("This code is already used by another territory.")
ERR_PARENT_CYCLE = _("A territory cannot sit under itself or one of its sub-territories.")
ERR_UNKNOWN_PROVINCES = _("Unknown provinces: %(values)s")
ERR_UNKNOWN_INDUSTRIES = _("Unknown industries: %(values)s")
ERR_BAD_PRODUCT_LINE = _("Product line codes use letters, digits, “-” and “_” only: %(values)s")
ERR_OWNER_NEEDED = _("The “territory owner” strategy needs an owner.")
ERR_NOBODY_TO_ASSIGN = _("Round-robin and least-loaded need at least one member or an owner.")
ERR_OUT_OF_SCOPE = _("You can only use people and units you can see.")
ERR_REASSIGN_FORBIDDEN = _("Only a manager over this customer (or an administrator) may reassign it.")
ERR_TARGET_UNKNOWN = _("Choose an active person you can see.")
ERR_SAME_OWNER = _("The customer is already owned by this person.")
ERR_REASON_REQUIRED = _("Give a reason for the reassignment.")
ERR_BULK_FORBIDDEN = _("Only a manager over both people (or an administrator) may move their customers.")
ERR_BULK_SAME_USER = _("Choose two different people.")

RULE_PREFIX = "territory:"


# --- permissions ------------------------------------------------------------------------------


def can_manage_territories(user: Any) -> bool:
    """Administrators and sales directors set up territories."""
    return user_has_role(user, ADMINISTRATOR, SALES_DIRECTOR)


def is_manager(user: Any) -> bool:
    """A person whose data scope reaches beyond their own records (team, subtree or everything)."""
    return user_scope(user) in (Scope.TEAM, Scope.SUBTREE, Scope.ALL)


def can_reassign(user: Any, customer: Customer) -> bool:
    """Managers (and administrators) who may change ``customer`` may give it to someone else."""
    if not is_manager(user):
        return False
    from steelyard.customers.services.customers import can_change

    return can_change(user, customer)


def _visible_active_user(actor: Any, user: Any) -> bool:
    return (
        user is not None
        and user.is_active
        and User.objects.visible_to(actor).filter(pk=user.pk, is_active=True).exists()
    )


def can_bulk_reassign(actor: Any, from_user: Any, to_user: Any) -> bool:
    """Administrators, or managers who can see both people."""
    if user_has_role(actor, ADMINISTRATOR):
        return True
    if not is_manager(actor):
        return False
    visible = User.objects.visible_to(actor).filter(pk__in=[from_user.pk, to_user.pk])
    return visible.count() == len({from_user.pk, to_user.pk})


# --- routing (read-only) ----------------------------------------------------------------------


def _matches(values: Sequence[str], value: str, *, key: Callable[[str], str] = lambda v: v) -> bool:
    if not values:
        return True
    return bool(value) and key(value) in {key(v) for v in values}


def territory_match(*, province: str = "", industry: str = "", product_line: str = "") -> Territory | None:
    """The most specific active territory whose criteria match (None when none does).

    Territories are configuration (tens, not millions), so they are matched in memory: one query.
    """
    territories = list(Territory.objects.filter(is_active=True).select_related("owner", "pool"))
    if not territories:
        return None
    parents = dict(Territory.objects.values_list("pk", "parent_id"))

    def depth(pk: int) -> int:
        d, seen = 0, {pk}
        parent = parents.get(pk)
        while parent is not None and parent not in seen:
            seen.add(parent)
            d += 1
            parent = parents.get(parent)
        return d

    candidates = [
        t
        for t in territories
        if _matches(t.provinces, province, key=province_key)
        and _matches(t.industries, industry)
        and _matches(t.product_lines, product_line)
    ]
    if not candidates:
        return None
    candidates.sort(key=lambda t: (-depth(t.pk), t.priority, t.code))
    return candidates[0]


def _active_members(territory: Territory) -> list[User]:
    """Active members in the order they were added (the round-robin order)."""
    through = Territory.members.through
    rows = (
        through.objects.filter(territory_id=territory.pk, user__is_active=True)
        .select_related("user")
        .order_by("pk")
    )
    return [r.user for r in rows]


def _owner_if_active(territory: Territory) -> User | None:
    owner = territory.owner
    return owner if owner is not None and owner.is_active else None


def _least_loaded(territory: Territory) -> User | None:
    return (
        territory.members.filter(is_active=True)
        .annotate(load=Count("customers", filter=Q(customers__merged_into__isnull=True)))
        .order_by("load", "pk")
        .first()
    )


def territory_pick_owner(territory: Territory, *, rr_slot: int | None = None) -> User | None:
    """Who the territory's strategy gives the next customer to (None when nobody is available).

    ``rr_slot`` is the round-robin cursor to use; by default the territory's current one (a dry run).
    Round-robin and least-loaded fall back to the territory owner when no member is active.
    """
    if territory.strategy == Territory.Strategy.ROUND_ROBIN:
        members = _active_members(territory)
        if members:
            slot = territory.rr_cursor if rr_slot is None else rr_slot
            return members[slot % len(members)]
    elif territory.strategy == Territory.Strategy.LEAST_LOADED:
        lightest = _least_loaded(territory)
        if lightest is not None:
            return lightest
    return _owner_if_active(territory)


def territory_route(
    *, province: str = "", industry: str = "", product_line: str = ""
) -> tuple[User | None, Territory | None]:
    """Dry-run routing from bare criteria: (owner, territory); (None, None) when nothing matches."""
    territory = territory_match(province=province, industry=industry, product_line=product_line)
    if territory is None:
        return None, None
    return territory_pick_owner(territory), territory


def customer_route(*, customer: Customer, product_line: str = "") -> tuple[User | None, Territory | None]:
    """Which territory and owner a customer would be routed to now, without writing anything.

    (None, None): no territory matches and the customer stays in its pool.
    """
    return territory_route(province=customer.province, industry=customer.industry, product_line=product_line)


# --- applying a route -------------------------------------------------------------------------


def _advance_cursor(territory: Territory) -> int:
    """Take the next round-robin slot: an atomic increment, then read back (row stays locked until commit)."""
    Territory.objects.filter(pk=territory.pk).update(rr_cursor=F("rr_cursor") + 1)
    cursor = Territory.objects.filter(pk=territory.pk).values_list("rr_cursor", flat=True).get()
    territory.rr_cursor = cursor
    return cursor - 1


def _clock_recompute(customer: Customer) -> None:
    # Lazy: the pool module imports much of the customers app.
    from steelyard.customers.services.pool import customer_clock_recompute

    customer_clock_recompute(customer)


@transaction.atomic
def customer_assign_auto(*, actor: Any, customer: Customer, product_line: str = "") -> Customer:
    """Route ``customer`` through the territories and apply the result.

    With an owner found: sets owner, owning unit (the owner's primary unit), territory and
    ``owned_since``, records an ``assign`` ownership event with the rule that fired, audits and
    recomputes the pool clock. Without one: the customer keeps its owner (none: it stays in its
    pool, the territory's pool when a territory matched).
    """
    territory = territory_match(
        province=customer.province, industry=customer.industry, product_line=product_line
    )
    owner: User | None = None
    if territory is not None:
        slot = _advance_cursor(territory) if territory.strategy == Territory.Strategy.ROUND_ROBIN else None
        owner = territory_pick_owner(territory, rr_slot=slot)
    before = snapshot(customer, ["owner_id", "org_unit_id", "territory_id", "pool_id"])
    now = timezone.now()
    fields: dict[str, Any] = {}
    if territory is not None:
        fields["territory"] = territory
        if territory.pool_id:
            fields["pool_id"] = territory.pool_id
    old_owner_id = customer.owner_id
    if owner is not None:
        fields.update(owner=owner, org_unit_id=owner.org_unit_id)
        if owner.pk != old_owner_id:
            fields.update(owned_since=now, previous_owner_id=old_owner_id or customer.previous_owner_id)
    if fields:
        for name, value in fields.items():
            setattr(customer, name, value)
        Customer.objects.filter(pk=customer.pk).update(updated_at=now, **fields)
    if owner is not None and owner.pk != old_owner_id:
        OwnershipEvent.objects.create(
            customer=customer,
            action=OwnershipAction.ASSIGN,
            from_owner_id=old_owner_id,
            to_owner=owner,
            actor=actor if getattr(actor, "pk", None) else None,
            rule=f"{RULE_PREFIX}{territory.code}" if territory else "",
        )
    audit_update(actor=actor, obj=customer, before=before, verb="customers.assigned")
    _clock_recompute(customer)
    return customer


def _reassign_notify(*, actor: Any, customer: Customer, new_owner: User, old_owner: User | None) -> None:
    name = str(customer)
    notify(
        recipients=[new_owner],
        title=format_lazy(_("Customer {name} is now yours"), name=name),
        subject=customer,
        event="customers.reassigned",
        actor=actor,
    )
    if old_owner is not None:
        notify(
            recipients=[old_owner],
            title=format_lazy(
                _("Customer {name} was reassigned to {owner}"), name=name, owner=str(new_owner)
            ),
            subject=customer,
            event="customers.reassigned",
            actor=actor,
        )


@transaction.atomic
def customer_reassign(*, actor: Any, customer: Customer, to_owner: User, reason: str) -> Customer:
    """A manager gives one customer to another person they can see; both owners are notified."""
    reason = (reason or "").strip()
    if not can_reassign(actor, customer):
        raise PermissionDenied(ERR_REASSIGN_FORBIDDEN)
    if not _visible_active_user(actor, to_owner):
        raise ValidationError({"to_owner": ERR_TARGET_UNKNOWN}, code="unknown_target")
    if customer.owner_id == to_owner.pk:
        raise ValidationError({"to_owner": ERR_SAME_OWNER}, code="same_owner")
    if not reason:
        raise ValidationError({"reason": ERR_REASON_REQUIRED}, code="reason_required")
    old_owner = customer.owner
    before = snapshot(customer, ["owner_id", "org_unit_id"])
    now = timezone.now()
    fields = {
        "owner": to_owner,
        "org_unit_id": to_owner.org_unit_id,
        "owned_since": now,
        "previous_owner_id": customer.owner_id or customer.previous_owner_id,
    }
    Customer.objects.filter(pk=customer.pk).update(updated_at=now, **fields)
    for name, value in fields.items():
        setattr(customer, name, value)
    OwnershipEvent.objects.create(
        customer=customer,
        action=OwnershipAction.REASSIGN,
        from_owner=old_owner,
        to_owner=to_owner,
        actor=actor,
        reason=reason,
    )
    audit_record(
        actor=actor,
        action=AuditAction.ACTION,
        obj=customer,
        verb="customers.reassigned",
        changes={
            "owner_id": [before["owner_id"], to_owner.pk],
            "org_unit_id": [before["org_unit_id"], to_owner.org_unit_id],
        },
        extra={"reason": reason},
    )
    _reassign_notify(actor=actor, customer=customer, new_owner=to_owner, old_owner=old_owner)
    _clock_recompute(customer)
    return customer


# --- bulk reassignment ------------------------------------------------------------------------

ReassignHook = Callable[[Any, User, User], int]
_reassign_hooks: dict[str, ReassignHook] = {}


def register_reassign_hook(hook: ReassignHook, *, key: str | None = None) -> ReassignHook:
    """Let a module move its own records when a rep's book moves: ``hook(actor, from_user, to_user) -> count``.

    Called inside the bulk reassignment's transaction; the count appears in the result under ``key``
    (default: the hook's module and name). Usable as a decorator; registering twice replaces.
    """
    _reassign_hooks[key or f"{hook.__module__}.{hook.__qualname__}"] = hook
    return hook


def reassign_hooks() -> dict[str, ReassignHook]:
    return dict(_reassign_hooks)


def bulk_reassign_check(*, actor: Any, from_user: User, to_user: User) -> None:
    """Raise unless ``actor`` may move ``from_user``'s book to ``to_user``."""
    if from_user.pk == to_user.pk:
        raise ValidationError({"to_user": ERR_BULK_SAME_USER}, code="same_user")
    if not can_bulk_reassign(actor, from_user, to_user):
        raise PermissionDenied(ERR_BULK_FORBIDDEN)
    if not to_user.is_active:
        raise ValidationError({"to_user": ERR_TARGET_UNKNOWN}, code="unknown_target")


def bulk_reassign_preview(*, from_user: User) -> dict[str, int]:
    """What a bulk reassignment of ``from_user`` would move (two COUNT queries)."""
    return {
        "customers": Customer.objects.filter(owner=from_user, merged_into__isnull=True).count(),
        "activities": Activity.objects.filter(owner=from_user, status=ActivityStatus.PLANNED).count(),
    }


def _move_customer_chunk(
    *, actor: Any, from_user: User, to_user: User, reason: str, now: Any, chunk: int
) -> list[int]:
    ids = list(
        Customer.objects.filter(owner=from_user, merged_into__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)[:chunk]
    )
    if not ids:
        return []
    Customer.objects.filter(pk__in=ids, owner=from_user).update(
        owner=to_user,
        org_unit_id=to_user.org_unit_id,
        previous_owner=from_user,
        owned_since=now,
        updated_at=now,
    )
    OwnershipEvent.objects.bulk_create(
        [
            OwnershipEvent(
                customer_id=pk,
                action=OwnershipAction.REASSIGN,
                from_owner=from_user,
                to_owner=to_user,
                actor=actor if getattr(actor, "pk", None) else None,
                reason=reason,
                rule="bulk",
            )
            for pk in ids
        ]
    )
    return ids


def _move_activities(*, from_user: User, to_user: User, chunk: int) -> int:
    moved = 0
    while True:
        ids = list(
            Activity.objects.filter(owner=from_user, status=ActivityStatus.PLANNED)
            .order_by("pk")
            .values_list("pk", flat=True)[:chunk]
        )
        if not ids:
            return moved
        moved += Activity.objects.filter(pk__in=ids).update(
            owner=to_user, org_unit_id=to_user.org_unit_id, updated_at=timezone.now()
        )


def _bulk_reassign_run(
    *, actor: Any, from_user: User, to_user: User, reason: str, include_activities: bool, total: int
) -> dict[str, Any]:
    """Move the book chunk by chunk. Resumable: each chunk takes whatever ``from_user`` still owns."""
    now = timezone.now()
    moved: list[int] = []
    job_progress(0, total, message=str(_("Moving customers…")))
    while True:
        with transaction.atomic():
            ids = _move_customer_chunk(
                actor=actor,
                from_user=from_user,
                to_user=to_user,
                reason=reason,
                now=now,
                chunk=BULK_REASSIGN_CHUNK,
            )
        if not ids:
            break
        moved.extend(ids)
        job_progress(len(moved), max(total, len(moved)))
    result: dict[str, Any] = {"customers": len(moved), "activities": 0}
    with transaction.atomic():
        if include_activities:
            result["activities"] = _move_activities(
                from_user=from_user, to_user=to_user, chunk=BULK_REASSIGN_CHUNK
            )
        hooks: dict[str, int] = {}
        for key, hook in reassign_hooks().items():
            hooks[key] = int(hook(actor, from_user, to_user) or 0)
        result["hooks"] = hooks
        audit_record(
            actor=actor,
            action=AuditAction.ACTION,
            obj=from_user,
            verb="customers.bulk_reassigned",
            extra={
                "from_user": from_user.pk,
                "to_user": to_user.pk,
                "reason": reason,
                "customers": len(moved),
                "activities": result["activities"],
                "hooks": hooks,
                "customer_ids": moved,
            },
            object_repr=f"{from_user} → {to_user}",
        )
        if moved or result["activities"]:
            count = len(moved)
            notify(
                recipients=[to_user],
                title=format_lazy(
                    _("{count} customers of {name} are now yours"), count=count, name=str(from_user)
                ),
                url="",
                event="customers.bulk_reassigned",
                actor=actor,
            )
    job_progress(len(moved), max(total, len(moved)), message=str(_("Done.")))
    return result


@task
def owner_bulk_reassign_job(
    *,
    actor_id: int | None,
    from_user_id: int,
    to_user_id: int,
    reason: str,
    include_activities: bool,
    total: int,
) -> dict[str, Any]:
    """The background form of ``owner_bulk_reassign`` (more than the threshold of customers)."""
    actor = User.objects.filter(pk=actor_id).first() if actor_id else None
    from_user = User.objects.get(pk=from_user_id)
    to_user = User.objects.get(pk=to_user_id)
    return _bulk_reassign_run(
        actor=actor,
        from_user=from_user,
        to_user=to_user,
        reason=reason,
        include_activities=include_activities,
        total=total,
    )


def owner_bulk_reassign(
    *, actor: Any, from_user: User, to_user: User, reason: str, include_activities: bool = True
) -> dict[str, Any]:
    """Move all of ``from_user``'s customers (and planned activities, and hooked records) to ``to_user``.

    Up to ``BULK_REASSIGN_JOB_THRESHOLD`` customers this runs at once and returns the counts
    (``{"customers", "activities", "hooks", "job_id": None}``); beyond it a background job is
    queued and the result carries its ``job_id`` (the counts land on the job).
    """
    reason = (reason or "").strip()
    bulk_reassign_check(actor=actor, from_user=from_user, to_user=to_user)
    if not reason:
        raise ValidationError({"reason": ERR_REASON_REQUIRED}, code="reason_required")
    total = Customer.objects.filter(owner=from_user, merged_into__isnull=True).count()
    if total > BULK_REASSIGN_JOB_THRESHOLD:
        job: Job = enqueue_job(
            owner_bulk_reassign_job,
            actor=actor,
            label=format_lazy(_("Move customers of {name} to {to}"), name=str(from_user), to=str(to_user)),
            kwargs={
                "actor_id": getattr(actor, "pk", None),
                "from_user_id": from_user.pk,
                "to_user_id": to_user.pk,
                "reason": reason,
                "include_activities": include_activities,
                "total": total,
            },
        )
        return {"customers": total, "activities": None, "hooks": {}, "job_id": str(job.pk)}
    with transaction.atomic():
        result = _bulk_reassign_run(
            actor=actor,
            from_user=from_user,
            to_user=to_user,
            reason=reason,
            include_activities=include_activities,
            total=total,
        )
    result["job_id"] = None
    return result


# --- territory set-up -------------------------------------------------------------------------

TERRITORY_FIELDS = (
    "name",
    "code",
    "parent_id",
    "owner_id",
    "org_unit_id",
    "provinces",
    "industries",
    "product_lines",
    "strategy",
    "priority",
    "pool_id",
    "is_active",
)


def _clean_list(values: Iterable[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or []:
        v = str(v).strip()
        if v and v not in out:
            out.append(v)
    return out


def _validate_territory(actor: Any, territory: Territory, members: list[User]) -> None:
    errors: dict[str, Any] = {}
    bad = [p for p in territory.provinces if province_key(p) not in PROVINCES]
    if bad:
        errors["provinces"] = ERR_UNKNOWN_PROVINCES % {"values": ", ".join(bad)}
    else:
        territory.provinces = [province_key(p) for p in territory.provinces]
    bad = [i for i in territory.industries if i not in Industry.values]
    if bad:
        errors["industries"] = ERR_UNKNOWN_INDUSTRIES % {"values": ", ".join(bad)}
    bad = [p for p in territory.product_lines if not p.replace("-", "").replace("_", "").isalnum()]
    if bad:
        errors["product_lines"] = ERR_BAD_PRODUCT_LINE % {"values": ", ".join(bad)}
    qs = Territory.objects.filter(code=territory.code)
    if territory.pk:
        qs = qs.exclude(pk=territory.pk)
    if qs.exists():
        errors["code"] = ERR_CODE_TAKEN
    if territory.parent_id and territory.pk:
        seen, parent = {territory.pk}, territory.parent_id
        while parent is not None:
            if parent in seen:
                errors["parent"] = ERR_PARENT_CYCLE
                break
            seen.add(parent)
            parent = Territory.objects.filter(pk=parent).values_list("parent_id", flat=True).first()
    if territory.strategy == Territory.Strategy.OWNER and not territory.owner_id:
        errors["owner"] = ERR_OWNER_NEEDED
    elif territory.strategy != Territory.Strategy.OWNER and not members and not territory.owner_id:
        errors["members"] = ERR_NOBODY_TO_ASSIGN
    people = {u.pk for u in members} | ({territory.owner_id} if territory.owner_id else set())
    if people and User.objects.visible_to(actor).filter(pk__in=people).count() != len(people):
        errors["members"] = ERR_OUT_OF_SCOPE
    if (
        territory.org_unit_id
        and not OrgUnit.objects.visible_to(actor).filter(pk=territory.org_unit_id).exists()
    ):
        errors["org_unit"] = ERR_OUT_OF_SCOPE
    if errors:
        raise ValidationError(errors)


def _apply(territory: Territory, fields: dict[str, Any]) -> list[User] | None:
    members = fields.pop("members", None)
    for list_field in ("provinces", "industries", "product_lines"):
        if list_field in fields:
            fields[list_field] = _clean_list(fields[list_field])
    for name, value in fields.items():
        setattr(territory, name, value)
    return list(members) if members is not None else None


@transaction.atomic
def territory_create(*, actor: Any, **fields: Any) -> Territory:
    """A new territory (administrators and sales directors)."""
    if not can_manage_territories(actor):
        raise PermissionDenied(ERR_TERRITORY_FORBIDDEN)
    territory = Territory()
    members = _apply(territory, fields) or []
    _validate_territory(actor, territory, members)
    try:
        with transaction.atomic():
            territory.save()
    except IntegrityError as exc:
        raise ValidationError({"code": ERR_CODE_TAKEN}) from exc
    territory.members.set(members)
    audit_create(actor=actor, obj=territory, fields=TERRITORY_FIELDS)
    return territory


@transaction.atomic
def territory_update(*, actor: Any, territory: Territory, **fields: Any) -> Territory:
    """Change a territory's criteria, people or strategy (administrators and sales directors)."""
    if not can_manage_territories(actor):
        raise PermissionDenied(ERR_TERRITORY_FORBIDDEN)
    before = snapshot(territory, TERRITORY_FIELDS)
    old_members = sorted(territory.members.values_list("pk", flat=True))
    members = _apply(territory, fields)
    _validate_territory(actor, territory, members if members is not None else list(territory.members.all()))
    territory.save()
    if members is not None:
        territory.members.set(members)
    changes = diff(before, snapshot(territory, TERRITORY_FIELDS))
    new_members = sorted(territory.members.values_list("pk", flat=True))
    if new_members != old_members:
        changes["members"] = [old_members, new_members]
    if changes:
        audit_record(actor=actor, action=AuditAction.UPDATE, obj=territory, changes=changes)
    return territory
