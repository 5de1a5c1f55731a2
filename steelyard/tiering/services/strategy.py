"""Writing the strategy menu: versions, their rules, activation, and applying a version to the pool clocks.

- Administrators and sales directors edit (``can_edit_strategy``); everything is audited on the menu.
- ``strategy_menu_create`` starts a new version as a *draft*, copying the rules of the version in force
  (or of ``source``; with no version at all, one row per tier of the active models with the built-in
  defaults). Versions are numbered 1, 2, 3…
- Only drafts change (``strategy_rule_set`` / ``strategy_rule_delete`` / ``strategy_rules_patch`` /
  ``strategy_menu_update`` / ``strategy_menu_delete``); a version in force or retired is history: make
  a new version instead.
- ``strategy_menu_activate`` puts a draft in force from ``effective_from`` (today or later). The version
  in force until then gets ``effective_to`` = the day before and is retired once that day is past
  (at once when the new version starts today; otherwise by the nightly ``strategy_menus_roll``).
  A version scheduled to start on or after the new one's start is retired unused
  (``effective_to`` = its start − 1, so it is never in force).
- **The pool clock.** A customer's recycle date is stored and recomputed on events, so a version that
  changes pool days must recompute the affected clocks: when it starts today, activation enqueues
  ``strategy_menu_apply_task`` (a background job with progress; inline in tests); a version that starts
  later is applied by ``strategy_menus_roll``, which the nightly pool job runs before its sweep, so the
  sweep of the day a version starts already uses its days. Only customers whose tier's pool days differ
  between the previous and the new version are recomputed. Applying is recorded in the audit log
  (``tiering.strategy_menu.applied``); the nightly roll applies any version in force that was not.
  Visit frequencies, credit terms and everything else are read on demand and need no recompute.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from steelyard.catalog.models import ProductLine
from steelyard.core.access import user_has_role
from steelyard.core.models import AuditAction, AuditLog
from steelyard.core.services.audit import audit_record, snapshot
from steelyard.core.tasks import enqueue_job, job_progress, task
from steelyard.org.models import Role
from steelyard.org.roles import SALES_DIRECTOR
from steelyard.tiering.models import MenuStatus, Seniority, StrategyMenu, StrategyRule
from steelyard.tiering.selectors.strategy import (
    DEFAULTS,
    RULE_FIELDS,
    MenuInForce,
    menu_in_force,
    menu_snapshot,
    tier_catalogue,
)

ERR_FORBIDDEN = _("Only administrators and sales directors may change the strategy menu.")
ERR_LOCKED = _("This version is in force or retired and can no longer be changed. Create a new version.")
ERR_NOT_DRAFT = _("Only a draft can be activated.")
ERR_NO_RULES = _("Add at least one rule before activating this version.")
ERR_PAST = _("Choose today or a later date.")
ERR_NAME = _("Give the version a name.")
ERR_DISCOUNT = _("Enter a discount between 0 and 100.")
ERR_UNKNOWN_ROLES = _("Unknown roles: %(codes)s.")
ERR_DAYS = _("Enter a whole number of at least 1.")
ERR_TERMS = _("Enter a whole number of days, 0 or more.")
ERR_CREDIT = _("Enter an amount of 0 or more.")
ERR_PRIORITY = _("Enter a priority of at least 1 (1 is served first).")
ERR_SENIORITY = _("Choose who visits.")
ERR_TIER = _("Enter a tier code of at most 20 characters (empty for customers without a tier).")
ERR_LINE = _("Unknown product line.")
ERR_ENTITLEMENT = _("Each entitlement is one line of at most 200 characters (at most 30 lines).")
ERR_UNKNOWN_FIELD = _("Unknown field.")

AUDIT_CREATED = "tiering.strategy_menu.created"
AUDIT_UPDATED = "tiering.strategy_menu.updated"
AUDIT_DELETED = "tiering.strategy_menu.deleted"
AUDIT_RULES = "tiering.strategy_menu.rules_changed"
AUDIT_ACTIVATED = "tiering.strategy_menu.activated"
AUDIT_RETIRED = "tiering.strategy_menu.retired"
AUDIT_APPLIED = "tiering.strategy_menu.applied"

ONE_DAY = dt.timedelta(days=1)
DAY_FIELDS = (
    "visit_every_days",
    "escalate_after_days",
    "response_hours",
    "resolution_hours",
    "pool_recycle_days",
)
MAX_ENTITLEMENTS = 30
MAX_DISCOUNT = Decimal("100")
MAX_CREDIT = Decimal("99999999999999.99")


def can_edit_strategy(user: Any) -> bool:
    """Administrators and sales directors edit the menu."""
    return user_has_role(user, SALES_DIRECTOR)


def _require_editor(actor: Any) -> None:
    if not can_edit_strategy(actor):
        raise PermissionDenied(str(ERR_FORBIDDEN))


def _lock_draft(menu: StrategyMenu) -> StrategyMenu:
    """The menu row, locked; refuses anything but a draft (an activation may have just happened)."""
    fresh = StrategyMenu.objects.select_for_update().filter(pk=menu.pk).first()
    if fresh is None or fresh.status != MenuStatus.DRAFT:
        raise ValidationError(ERR_LOCKED, code="menu_locked")
    return fresh


# --- validating a rule ----------------------------------------------------------------------------


def _as_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, float) and not value.is_integer():
        raise ValueError
    if isinstance(value, str):
        value = value.strip()
    result = int(value)
    if isinstance(value, (str, Decimal)) and Decimal(str(value)) != result:
        raise ValueError
    return result


def _as_decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidOperation
    result = Decimal(str(value).strip())
    if not result.is_finite():
        raise InvalidOperation
    return result


def _codes(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.replace("，", ",").replace("\n", ",").split(",")
    return [str(v).strip() for v in value if str(v).strip()]


def clean_rule_values(values: Mapping[str, Any], *, prefix: str = "") -> dict[str, Any]:
    """Check and normalise a rule's values; a ``ValidationError`` names every bad field (``prefix`` + name).

    Fields left out keep the model's defaults. Discount 0–100; the approval chain lists existing role
    codes (in order, no repeats); day fields empty or at least 1; payment terms 0 or more days; credit
    limit empty or 0 or more; delivery priority at least 1; entitlements one line each.
    """
    errors: dict[str, Any] = {}
    out: dict[str, Any] = {}
    for name, value in values.items():
        key = f"{prefix}{name}"
        if name not in RULE_FIELDS:
            errors[key] = ERR_UNKNOWN_FIELD
            continue
        try:
            if name == "max_discount_pct":
                d = _as_decimal(value)
                if d is None or d < 0 or d > MAX_DISCOUNT:
                    raise ValueError
                out[name] = d.quantize(Decimal("0.01"))
            elif name == "credit_limit":
                d = _as_decimal(value)
                if d is not None and (d < 0 or d > MAX_CREDIT):
                    raise ValueError
                out[name] = d.quantize(Decimal("0.01")) if d is not None else None
            elif name == "payment_terms_days":
                n = _as_int(value)
                if n is None or n < 0 or n > 3650:
                    raise ValueError
                out[name] = n
            elif name == "delivery_priority":
                n = _as_int(value)
                if n is None or n < 1 or n > 32767:
                    raise ValueError
                out[name] = n
            elif name in DAY_FIELDS:
                n = _as_int(value)
                if n is not None and (n < 1 or n > 36500):
                    raise ValueError
                out[name] = n
            elif name == "visitor_seniority":
                if value not in Seniority.values:
                    raise ValueError
                out[name] = value
            elif name == "approval_chain":
                codes = list(dict.fromkeys(_codes(value)))
                known = set(Role.objects.filter(code__in=codes).values_list("code", flat=True))
                unknown = [c for c in codes if c not in known]
                if unknown:
                    errors[key] = ERR_UNKNOWN_ROLES % {"codes": ", ".join(unknown)}
                    continue
                out[name] = codes
            elif name == "entitlements":
                items = value.splitlines() if isinstance(value, str) else list(value or [])
                items = [str(i).strip() for i in items if str(i).strip()]
                if len(items) > MAX_ENTITLEMENTS or any(len(i) > 200 for i in items):
                    raise ValueError
                out[name] = items
        except (TypeError, ValueError, InvalidOperation, ArithmeticError):
            errors[key] = {
                "max_discount_pct": ERR_DISCOUNT,
                "credit_limit": ERR_CREDIT,
                "payment_terms_days": ERR_TERMS,
                "delivery_priority": ERR_PRIORITY,
                "visitor_seniority": ERR_SENIORITY,
                "entitlements": ERR_ENTITLEMENT,
            }.get(name, ERR_DAYS)
    if errors:
        raise ValidationError(errors)
    return out


def _clean_key(tier: Any, product_line: Any, *, prefix: str = "") -> tuple[str, ProductLine | None]:
    tier = (tier or "").strip() if isinstance(tier, str) or tier is None else None
    if tier is None or len(tier) > 20:
        raise ValidationError({f"{prefix}tier": ERR_TIER})
    line = None
    if product_line not in (None, "", 0):
        if isinstance(product_line, ProductLine):
            line = product_line
        else:
            try:
                line = ProductLine.objects.filter(pk=int(product_line)).first()
            except (TypeError, ValueError):
                line = None
            if line is None:
                raise ValidationError({f"{prefix}product_line": ERR_LINE})
    return tier, line


def _rule_label(tier: str, line: ProductLine | None) -> str:
    return f"{tier or '-'}/{line.code if line else '*'}"


def _rule_values(rule: StrategyRule) -> dict[str, Any]:
    return snapshot(rule, RULE_FIELDS)


# --- versions ---------------------------------------------------------------------------------------


def _next_version() -> int:
    return (StrategyMenu.objects.aggregate(m=Max("version"))["m"] or 0) + 1


def _default_rows() -> list[tuple[str, dict[str, Any]]]:
    """A first version's rows: every tier of the active models, and customers without a tier."""
    defaults = {k: (list(v) if isinstance(v, tuple) else v) for k, v in DEFAULTS.items()}
    return [(code, dict(defaults)) for code, _label in tier_catalogue()] + [("", dict(defaults))]


@transaction.atomic
def strategy_menu_create(
    *,
    actor: Any,
    name: str = "",
    notes: str = "",
    source: StrategyMenu | None = None,
    effective_from: dt.date | None = None,
) -> StrategyMenu:
    """A new draft version, copying ``source``'s rules (default: the version in force, else the latest).

    With no version at all the draft starts with one row per tier (built-in defaults). Audited.
    """
    _require_editor(actor)
    today = timezone.localdate()
    if effective_from is not None and effective_from < today:
        raise ValidationError({"effective_from": ERR_PAST})
    if source is None:
        current = menu_in_force(today)
        source = (
            StrategyMenu.objects.filter(pk=current.menu_id).first()
            if current.menu_id
            else StrategyMenu.objects.exclude(status=MenuStatus.DRAFT).order_by("-version").first()
        )
    name = (name or "").strip() or (source.name if source else str(_("Strategy menu")))
    if len(name) > 100:
        raise ValidationError({"name": ERR_NAME})
    menu = None
    for _attempt in range(5):
        try:
            with transaction.atomic():
                menu = StrategyMenu.objects.create(
                    name=name,
                    version=_next_version(),
                    status=MenuStatus.DRAFT,
                    effective_from=effective_from or today,
                    notes=(notes or "").strip(),
                    created_by=actor if getattr(actor, "pk", None) else None,
                )
            break
        except IntegrityError:  # two drafts created at once: take the next number
            continue
    if menu is None:
        raise ValidationError(ERR_NAME, code="version_conflict")
    if source is not None:
        rows = [
            StrategyRule(menu=menu, tier=r.tier, product_line_id=r.product_line_id, **_rule_values(r))
            for r in StrategyRule.objects.filter(menu=source).order_by("pk")
        ]
    else:
        rows = [StrategyRule(menu=menu, tier=tier, **values) for tier, values in _default_rows()]
    StrategyRule.objects.bulk_create(rows)
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=menu,
        verb=AUDIT_CREATED,
        changes={k: [None, v] for k, v in snapshot(menu, ["name", "version", "status", "notes"]).items()},
        extra={"copied_from": source.version if source else None, "rules": len(rows)},
    )
    return menu


@transaction.atomic
def strategy_menu_update(
    *,
    actor: Any,
    menu: StrategyMenu,
    name: str | None = None,
    notes: str | None = None,
    effective_from: dt.date | None = None,
) -> StrategyMenu:
    """Rename a draft, change its notes or its planned start. Audited."""
    _require_editor(actor)
    menu = _lock_draft(menu)
    before = snapshot(menu, ["name", "notes", "effective_from"])
    if name is not None:
        name = name.strip()
        if not name or len(name) > 100:
            raise ValidationError({"name": ERR_NAME})
        menu.name = name
    if notes is not None:
        menu.notes = notes.strip()
    if effective_from is not None:
        if effective_from < timezone.localdate():
            raise ValidationError({"effective_from": ERR_PAST})
        menu.effective_from = effective_from
    menu.save()
    after = snapshot(menu, before.keys())
    changes = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
    if changes:
        audit_record(actor=actor, action=AuditAction.UPDATE, obj=menu, verb=AUDIT_UPDATED, changes=changes)
    return menu


@transaction.atomic
def strategy_menu_delete(*, actor: Any, menu: StrategyMenu) -> None:
    """Discard a draft (versions that were ever activated stay as history). Audited."""
    _require_editor(actor)
    menu = _lock_draft(menu)
    audit_record(
        actor=actor,
        action=AuditAction.DELETE,
        obj=menu,
        verb=AUDIT_DELETED,
        changes={k: [v, None] for k, v in snapshot(menu, ["name", "version"]).items()},
        extra={
            "rules": [_rule_label(r.tier, r.product_line) for r in menu.rules.select_related("product_line")]
        },
    )
    menu.delete()


# --- rules of a draft ---------------------------------------------------------------------------------


def _upsert(
    menu: StrategyMenu, tier: str, line: ProductLine | None, values: dict[str, Any]
) -> tuple[StrategyRule, dict[str, list[Any]]]:
    rule = StrategyRule.objects.filter(menu=menu, tier=tier, product_line=line).first()
    before = _rule_values(rule) if rule else {}
    if rule is None:
        rule = StrategyRule(menu=menu, tier=tier, product_line=line)
    for k, v in values.items():
        setattr(rule, k, v)
    rule.save()
    after = _rule_values(rule)
    label = _rule_label(tier, line)
    changes = {f"{label}.{k}": [before.get(k), after[k]] for k in after if before.get(k) != after[k]}
    return rule, changes


@transaction.atomic
def strategy_rule_set(
    *,
    actor: Any,
    menu: StrategyMenu,
    tier: str,
    product_line: ProductLine | int | None = None,
    values: Mapping[str, Any],
) -> StrategyRule:
    """Create or change the draft's rule for ``tier`` (and ``product_line``). Validated and audited."""
    _require_editor(actor)
    menu = _lock_draft(menu)
    tier, line = _clean_key(tier, product_line)
    cleaned = clean_rule_values(values)
    rule, changes = _upsert(menu, tier, line, cleaned)
    if changes:
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            obj=menu,
            verb=AUDIT_RULES,
            changes=changes,
            extra={"tier": tier, "product_line": line.code if line else None},
        )
    return rule


@transaction.atomic
def strategy_rule_delete(*, actor: Any, rule: StrategyRule) -> None:
    """Remove a rule from a draft (its customers then fall back along the lookup chain). Audited."""
    _require_editor(actor)
    menu = _lock_draft(rule.menu)
    label = _rule_label(rule.tier, rule.product_line)
    before = _rule_values(rule)
    rule.delete()
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=menu,
        verb=AUDIT_RULES,
        changes={f"{label}.{k}": [v, None] for k, v in before.items()},
        extra={"deleted": label},
    )


@transaction.atomic
def strategy_rules_patch(
    *, actor: Any, menu: StrategyMenu, rules: Iterable[Mapping[str, Any]]
) -> list[StrategyRule]:
    """Several rule changes at once (the API): each ``{tier, product_line_id, delete?, <fields>}``.

    All or nothing: any bad item refuses the whole patch, its errors named ``rules.<i>.<field>``.
    """
    _require_editor(actor)
    menu = _lock_draft(menu)
    errors: dict[str, Any] = {}
    plan: list[tuple[str, ProductLine | None, bool, dict[str, Any]]] = []
    for i, item in enumerate(rules):
        prefix = f"rules.{i}."
        data = dict(item)
        delete = bool(data.pop("delete", False))
        try:
            tier, line = _clean_key(data.pop("tier", ""), data.pop("product_line_id", None), prefix=prefix)
            cleaned = {} if delete else clean_rule_values(data, prefix=prefix)
        except ValidationError as e:
            errors.update(e.error_dict)
            continue
        plan.append((tier, line, delete, cleaned))
    if errors:
        raise ValidationError(errors)
    changes: dict[str, list[Any]] = {}
    touched: list[StrategyRule] = []
    for tier, line, delete, cleaned in plan:
        if delete:
            rule = StrategyRule.objects.filter(menu=menu, tier=tier, product_line=line).first()
            if rule is not None:
                label = _rule_label(tier, line)
                changes.update({f"{label}.{k}": [v, None] for k, v in _rule_values(rule).items()})
                rule.delete()
            continue
        rule, rule_changes = _upsert(menu, tier, line, cleaned)
        changes.update(rule_changes)
        touched.append(rule)
    if changes:
        audit_record(actor=actor, action=AuditAction.UPDATE, obj=menu, verb=AUDIT_RULES, changes=changes)
    return touched


# --- activation ----------------------------------------------------------------------------------------


@transaction.atomic
def strategy_menu_activate(
    *, actor: Any, menu: StrategyMenu, effective_from: dt.date | None = None
) -> StrategyMenu:
    """Put a draft in force from ``effective_from`` (today or later; default today). Audited.

    The version in force until then ends the day before (retired now when that day is past); a version
    scheduled to start on or after this one's start is retired unused. When the version starts today
    the pool clocks it changes are recomputed by a background job (``menu.apply_job``).
    """
    _require_editor(actor)
    today = timezone.localdate()
    locked = StrategyMenu.objects.select_for_update().filter(pk=menu.pk).first()
    if locked is None or locked.status != MenuStatus.DRAFT:
        raise ValidationError(ERR_NOT_DRAFT, code="not_draft")
    menu = locked
    start = effective_from or today
    if start < today:
        raise ValidationError({"effective_from": ERR_PAST})
    if not StrategyRule.objects.filter(menu=menu).exists():
        raise ValidationError(ERR_NO_RULES, code="no_rules")
    previous = menu_in_force(today)
    retired: list[int] = []
    shortened: list[int] = []
    others = StrategyMenu.objects.select_for_update().filter(status=MenuStatus.ACTIVE).exclude(pk=menu.pk)
    for other in others.order_by("effective_from", "version"):
        before = snapshot(other, ["status", "effective_to"])
        if other.effective_from >= start:
            # Scheduled to start on or after the new version: superseded before it ever applied.
            other.effective_to = other.effective_from - ONE_DAY
            other.status = MenuStatus.RETIRED
        elif other.effective_to is None or other.effective_to >= start:
            other.effective_to = start - ONE_DAY
            shortened.append(other.version)
        if other.effective_to is not None and other.effective_to < today:
            other.status = MenuStatus.RETIRED
        after = snapshot(other, ["status", "effective_to"])
        if after != before:
            other.save(update_fields=["status", "effective_to", "updated_at"])
            if other.status == MenuStatus.RETIRED:
                retired.append(other.version)
            audit_record(
                actor=actor,
                action=AuditAction.UPDATE,
                obj=other,
                verb=AUDIT_RETIRED if other.status == MenuStatus.RETIRED else AUDIT_UPDATED,
                changes={k: [before[k], after[k]] for k in before if before[k] != after[k]},
                extra={"superseded_by": menu.version},
            )
    before = snapshot(menu, ["status", "effective_from", "effective_to"])
    menu.status = MenuStatus.ACTIVE
    menu.effective_from = start
    menu.effective_to = None
    menu.save(update_fields=["status", "effective_from", "effective_to", "updated_at"])
    after = snapshot(menu, before.keys())
    audit_record(
        actor=actor,
        action=AuditAction.ACTION,
        obj=menu,
        verb=AUDIT_ACTIVATED,
        changes={k: [before[k], after[k]] for k in before if before[k] != after[k]},
        extra={"retired": retired, "ended_the_day_before": shortened, "previous_in_force": previous.version},
    )
    menu.apply_job = None  # type: ignore[attr-defined]
    if start == today:
        menu.apply_job = enqueue_job(  # type: ignore[attr-defined]
            strategy_menu_apply_task,
            actor=actor if getattr(actor, "pk", None) else None,
            label=str(_("Apply strategy menu v%(version)s to the pool clocks") % {"version": menu.version}),
            args=[menu.pk, previous.menu_id],
        )
    return menu


# --- applying a version to the pool clocks --------------------------------------------------------------


def pool_days_changes(old: MenuInForce, new: MenuInForce) -> tuple[set[str], bool, set[str]]:
    """Which tiers' pool days differ between two versions.

    ``(tiers, others, named)``: the tiers either version names whose days differ; whether the days of
    every tier neither version names differ; and the tiers either version names.
    """
    old_named, old_default = old.tier_values("pool_recycle_days")
    new_named, new_default = new.tier_values("pool_recycle_days")
    named = set(old_named) | set(new_named)
    tiers = {t for t in named if old.pool_recycle_days(t) != new.pool_recycle_days(t)}
    return tiers, old_default != new_default, named


def strategy_menu_apply(
    *,
    menu_id: int,
    previous_id: int | None = None,
    now: dt.datetime | None = None,
    chunk_size: int = 1000,
) -> dict[str, Any]:
    """Recompute the pool clocks the version ``menu_id`` changes (compared with ``previous_id``).

    Does nothing unless that version is in force today. Works in chunks (one transaction each) with
    the pools' policies and the menu read once per pool; reports progress; records the run in the
    audit log so the nightly roll does not apply it again.
    """
    from steelyard.customers.models import Customer
    from steelyard.customers.services.pool import PolicyCache, customer_clock_recompute

    now = now or timezone.now()
    today = timezone.localdate(now)
    new = menu_in_force(today)
    if new.menu_id != menu_id:
        return {"applied": False, "customers": 0, "changed": 0}
    old = menu_snapshot(previous_id, on=today)
    tiers, others, named = pool_days_changes(old, new)
    qs = Customer.objects.filter(owner__isnull=False, merged_into__isnull=True, pool__isnull=False)
    cond = Q(tier__in=sorted(tiers))
    if others:
        cond |= ~Q(tier__in=sorted(named))
    qs = qs.filter(cond) if (tiers or others) else qs.none()
    total = qs.count()
    job_progress(0, total)
    policies: PolicyCache = {}
    done = changed = 0
    last_pk = 0
    while True:
        batch = list(qs.filter(pk__gt=last_pk).order_by("pk")[:chunk_size])
        if not batch:
            break
        last_pk = batch[-1].pk
        with transaction.atomic():
            for c in batch:
                before = (c.recycle_at, c.recycle_trigger)
                customer_clock_recompute(c, now=now, policies=policies)
                changed += (c.recycle_at, c.recycle_trigger) != before
        done += len(batch)
        job_progress(done, total)
    menu = StrategyMenu.objects.filter(pk=menu_id).first()
    audit_record(
        actor=None,
        action=AuditAction.ACTION,
        obj=menu,
        verb=AUDIT_APPLIED,
        extra={
            "previous_version": old.version,
            "tiers": sorted(tiers),
            "other_tiers": others,
            "customers": done,
            "clocks_changed": changed,
        },
    )
    return {"applied": True, "customers": done, "changed": changed}


@task
def strategy_menu_apply_task(menu_id: int, previous_id: int | None = None) -> dict[str, Any]:
    """Background job: recompute the pool clocks a newly activated version changes."""
    return strategy_menu_apply(menu_id=menu_id, previous_id=previous_id)


def was_applied(menu_id: int) -> bool:
    ct = ContentType.objects.get_for_model(StrategyMenu)
    return AuditLog.objects.filter(content_type=ct, object_id=str(menu_id), verb=AUDIT_APPLIED).exists()


def strategy_menus_roll(*, now: dt.datetime | None = None) -> dict[str, Any]:
    """The nightly step (run by the pool job before its sweep): retire versions whose end passed, and
    apply the version in force to the pool clocks if that was not done yet (a version that starts
    today, or one whose activation job failed)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    retired = 0
    for menu in StrategyMenu.objects.filter(status=MenuStatus.ACTIVE, effective_to__lt=today):
        with transaction.atomic():
            done = StrategyMenu.objects.filter(pk=menu.pk, status=MenuStatus.ACTIVE).update(
                status=MenuStatus.RETIRED, updated_at=now
            )
            if done:
                retired += 1
                audit_record(
                    actor=None,
                    action=AuditAction.UPDATE,
                    obj=menu,
                    verb=AUDIT_RETIRED,
                    changes={"status": [MenuStatus.ACTIVE.value, MenuStatus.RETIRED.value]},
                )
    current = menu_in_force(today)
    result: dict[str, Any] = {"menus_retired": retired, "menu_applied": None, "menu_clocks_changed": 0}
    if current.menu_id is not None and not was_applied(current.menu_id):
        start = current.effective_from or today
        previous = menu_in_force(start - ONE_DAY)
        applied = strategy_menu_apply(menu_id=current.menu_id, previous_id=previous.menu_id, now=now)
        result["menu_applied"] = current.version
        result["menu_clocks_changed"] = applied["changed"]
    return result
