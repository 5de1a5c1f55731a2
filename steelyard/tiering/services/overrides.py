"""Manual tier overrides (through the approval engine) and the factor values people enter.

An override is asked for with :func:`override_request`: a :class:`TierOverride` (pending) and an approval
request of kind ``tiering.override`` on the customer. Nothing changes until the last approver approves:
then :func:`override_apply` (the kind's ``on_approved`` hook, inside the deciding transaction) writes
``override_tier`` / ``override_until`` / ``override_reason`` on the customer's :class:`CustomerTier` and, for
the global model, sets ``Customer.tier`` at once. A rejection (:func:`override_reject`) or a withdrawal
(:func:`override_cancel`) changes nothing but the override's status. The daily job
(:func:`overrides_expire`) ends overrides past their expiry and puts the assessed tier back.

How the state is read (the engine follows the same rule): ``CustomerTier.tier`` is the *assessed* tier
(after hysteresis); an override is in force while ``override_tier`` is set and ``override_until`` is today
or later, and then it is the customer's tier (:func:`effective_tier`). ``Customer.tier`` mirrors the
effective tier of the global model.

Every write is audited. :func:`entered_values_set` records the values a person enters for the entered
factors (potential, strategic fit).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from dateutil.relativedelta import relativedelta
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Case, CharField, F, Q, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from steelyard.core.models import AuditAction
from steelyard.core.services.audit import audit_record, diff, snapshot
from steelyard.customers.models import Customer
from steelyard.tiering.models import (
    CustomerTier,
    EnteredValue,
    FactorCode,
    OverrideStatus,
    Tier,
    TierModel,
    TierOverride,
)

KIND = "tiering.override"
MAX_REASON = 2000
OVERRIDE_REASON_MAX = 300  # CustomerTier.override_reason
POTENTIAL_MAX = Decimal("1000000000000")  # one trillion: anything above is a typo
STRATEGIC_FIT_MIN, STRATEGIC_FIT_MAX = Decimal("0"), Decimal("5")

ERR_NOT_ALLOWED = _("You may not change this customer's tier.")
ERR_MODEL = _("Choose an active tier model.")
ERR_TIER = _("Choose one of this model's tiers.")
ERR_SAME_TIER = _("The customer is already in this tier.")
ERR_REASON = _("Say why the customer should be in another tier.")
ERR_REASON_LONG = _("Keep the reason under %(max)s characters.")
ERR_EXPIRY_REQUIRED = _("Give the date the override ends.")
ERR_EXPIRY_PAST = _("The override must end after today.")
ERR_EXPIRY_FAR = _("An override can last at most one year (until %(date)s).")
ERR_PENDING = _("An override of this customer's tier is already waiting for approval.")
ERR_NOT_REQUESTER = _("Only the person who asked for the override can withdraw it.")
ERR_NOT_PENDING = _("This override is no longer waiting for approval.")
ERR_POTENTIAL = _("Enter the estimated annual demand in yuan, 0 or more.")
ERR_STRATEGIC_FIT = _("Enter a strategic fit from 0 to 5.")
ERR_MERGED = _("This customer has been merged into another one.")

AUDIT_REQUESTED = "tiering.override_requested"
AUDIT_APPROVED = "tiering.override_approved"
AUDIT_REJECTED = "tiering.override_rejected"
AUDIT_CANCELLED = "tiering.override_cancelled"
AUDIT_EXPIRED = "tiering.override_expired"
AUDIT_REPLACED = "tiering.override_replaced"
AUDIT_TIER_SET = "tiering.customer_tier_set"
AUDIT_ENTERED = "tiering.entered_value"

#: the entered factors a person may set, in display order
ENTERED_CODES = (FactorCode.POTENTIAL.value, FactorCode.STRATEGIC_FIT.value)


# --- reading the state ------------------------------------------------------------------------------------


def override_in_force(ct: CustomerTier, today: dt.date | None = None) -> bool:
    today = today or timezone.localdate()
    return bool(ct.override_tier) and ct.override_until is not None and ct.override_until >= today


def effective_tier(ct: CustomerTier, today: dt.date | None = None) -> str:
    """The customer's tier under ``ct``'s model: the override in force, else the assessed tier."""
    return ct.override_tier if override_in_force(ct, today) else ct.tier


def effective_tier_expr(today: dt.date | None = None, prefix: str = "") -> Case:
    """The same as :func:`effective_tier`, as an SQL expression over a CustomerTier (``prefix`` joins)."""
    today = today or timezone.localdate()
    return Case(
        When(
            Q(**{f"{prefix}override_until__gte": today}) & ~Q(**{f"{prefix}override_tier": ""}),
            then=F(f"{prefix}override_tier"),
        ),
        default=F(f"{prefix}tier"),
        output_field=CharField(),
    )


def global_model() -> TierModel | None:
    """The active global model (its tier is ``Customer.tier``), or None."""
    return TierModel.objects.filter(is_active=True, product_line__isnull=True).first()


def can_request(user: Any, customer: Customer) -> bool:
    """Who may ask for an override or enter values: whoever may change the customer."""
    from steelyard.customers.services.customers import can_change

    return can_change(user, customer)


def max_expiry(today: dt.date | None = None) -> dt.date:
    return (today or timezone.localdate()) + relativedelta(years=1)


# --- requesting -------------------------------------------------------------------------------------------


def _clean_request(
    *, model: TierModel | None, tier: str, reason: str, expires_on: dt.date | None, today: dt.date
) -> tuple[Tier, str]:
    errors: dict[str, Any] = {}
    found: Tier | None = None
    if model is None or not model.is_active:
        errors["model"] = ERR_MODEL
    else:
        found = Tier.objects.filter(model=model, code=tier or "").first()
        if found is None:
            errors["tier"] = ERR_TIER
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = ERR_REASON
    elif len(reason) > MAX_REASON:
        errors["reason"] = ValidationError(ERR_REASON_LONG, params={"max": MAX_REASON})
    if expires_on is None:
        errors["expires_on"] = ERR_EXPIRY_REQUIRED
    elif expires_on <= today:
        errors["expires_on"] = ERR_EXPIRY_PAST
    elif expires_on > max_expiry(today):
        errors["expires_on"] = ValidationError(ERR_EXPIRY_FAR, params={"date": max_expiry(today).isoformat()})
    if errors:
        raise ValidationError(errors)
    assert found is not None
    return found, reason


@transaction.atomic
def override_request(
    *,
    actor: Any,
    customer: Customer,
    model: TierModel | None,
    tier: str,
    reason: str,
    expires_on: dt.date | None,
) -> TierOverride:
    """Ask for ``customer`` to be put in ``tier`` of ``model`` until ``expires_on`` (at most a year).

    Creates a pending :class:`TierOverride` and routes an approval request (kind ``tiering.override``) to
    the approvers; nothing else changes until it is approved. Raises ``PermissionDenied`` when the actor
    may not change the customer, ``ValidationError`` (per field) for a bad request or one already pending.
    """
    from steelyard.core.services.approvals import approval_request_create

    if not can_request(actor, customer):
        raise PermissionDenied(str(ERR_NOT_ALLOWED))
    if customer.merged_into_id:
        raise ValidationError(ERR_MERGED)
    today = timezone.localdate()
    found, reason = _clean_request(model=model, tier=tier, reason=reason, expires_on=expires_on, today=today)
    assert model is not None and expires_on is not None
    ct = CustomerTier.objects.filter(customer=customer, model=model).first()
    if ct is not None and effective_tier(ct, today) == found.code:
        raise ValidationError({"tier": ERR_SAME_TIER})
    if TierOverride.objects.filter(customer=customer, status=OverrideStatus.PENDING).exists():
        raise ValidationError(ERR_PENDING)
    override = TierOverride.objects.create(
        customer=customer,
        model=model,
        tier=found.code,
        reason=reason,
        expires_on=expires_on,
        status=OverrideStatus.PENDING,
        requested_by=actor,
    )
    request = approval_request_create(
        actor=actor,
        subject=customer,
        kind=KIND,
        requested_change={
            "override_id": override.pk,
            "model": model.code,
            "tier": found.code,
            "from_tier": effective_tier(ct, today) if ct is not None else "",
            "expires_on": expires_on.isoformat(),
        },
        reason=reason,
        title=f"{_('Tier override')}: {customer} → {found.name} ({model.name})",
    )
    override.approval = request
    override.save(update_fields=["approval"])
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=override,
        verb=AUDIT_REQUESTED,
        changes=diff({}, snapshot(override, ["customer_id", "model_id", "tier", "expires_on", "status"])),
        extra={"approval": request.pk, "reason": reason},
    )
    return override


def _override_of(request: Any) -> TierOverride | None:
    change = request.requested_change if isinstance(request.requested_change, dict) else {}
    pk = change.get("override_id")
    if pk is None:
        return TierOverride.objects.select_for_update().filter(approval=request).first()
    return TierOverride.objects.select_for_update().filter(pk=pk).first()


def customer_tier_set(*, actor: Any, customer_id: int, tier: str, verb: str = AUDIT_TIER_SET) -> bool:
    """Set ``Customer.tier`` (the global model's effective tier), audited; the pool clock follows."""
    from steelyard.customers.services.pool import customer_clock_recompute

    customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
    if customer is None or customer.tier == tier:
        return False
    before = customer.tier
    Customer.objects.filter(pk=customer.pk).update(tier=tier, updated_at=timezone.now())
    customer.tier = tier
    audit_record(
        actor=actor, action=AuditAction.UPDATE, obj=customer, verb=verb, changes={"tier": [before, tier]}
    )
    customer_clock_recompute(customer)
    return True


def _is_global(model: TierModel) -> bool:
    return model.product_line_id is None and model.is_active


def override_apply(request: Any, actor: Any) -> None:
    """``on_approved`` of ``tiering.override``: the override comes into force until its expiry."""
    override = _override_of(request)
    if override is None or override.status != OverrideStatus.PENDING:
        return
    now = timezone.now()
    today = timezone.localdate(now)
    before = snapshot(override, ["status"])
    override.decided_at = now
    if override.expires_on < today:  # decided too late: it would already have ended
        override.status = OverrideStatus.EXPIRED
        override.save(update_fields=["status", "decided_at"])
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            obj=override,
            verb=AUDIT_EXPIRED,
            changes=diff(before, snapshot(override, ["status"])),
        )
        return
    override.status = OverrideStatus.APPROVED
    override.save(update_fields=["status", "decided_at"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=override,
        verb=AUDIT_APPROVED,
        changes=diff(before, snapshot(override, ["status"])),
        extra={"approval": request.pk},
    )
    # An earlier override of the same customer and model gives way to this one.
    for old in (
        TierOverride.objects.select_for_update()
        .filter(customer_id=override.customer_id, model_id=override.model_id, status=OverrideStatus.APPROVED)
        .exclude(pk=override.pk)
    ):
        old.status = OverrideStatus.CANCELLED
        old.save(update_fields=["status"])
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            obj=old,
            verb=AUDIT_REPLACED,
            changes={"status": [OverrideStatus.APPROVED.value, OverrideStatus.CANCELLED.value]},
            extra={"replaced_by": override.pk},
        )
    ct = (
        CustomerTier.objects.select_for_update()
        .filter(customer_id=override.customer_id, model_id=override.model_id)
        .first()
    )
    fields = ["tier", "override_tier", "override_until", "override_reason"]
    if ct is None:  # never assessed yet: the override is its first tier
        ct = CustomerTier(
            customer_id=override.customer_id,
            model_id=override.model_id,
            tier="",
            since=now,
            score=Decimal("0"),
        )
        ct_before: dict[str, Any] = {}
    else:
        ct_before = snapshot(ct, fields)
    ct.override_tier = override.tier
    ct.override_until = override.expires_on
    ct.override_reason = override.reason[:OVERRIDE_REASON_MAX]
    ct.save()
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE if ct_before else AuditAction.CREATE,
        obj=ct,
        verb=AUDIT_APPROVED,
        changes=diff(ct_before, snapshot(ct, fields)),
        extra={"override": override.pk},
    )
    model = override.model
    if _is_global(model):
        customer_tier_set(
            actor=actor, customer_id=override.customer_id, tier=override.tier, verb=AUDIT_APPROVED
        )


def override_reject(request: Any, actor: Any) -> None:
    """``on_rejected`` of ``tiering.override``: the override is closed; nothing else changes."""
    override = _override_of(request)
    if override is None or override.status != OverrideStatus.PENDING:
        return
    override.status = OverrideStatus.REJECTED
    override.decided_at = timezone.now()
    override.save(update_fields=["status", "decided_at"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=override,
        verb=AUDIT_REJECTED,
        changes={"status": [OverrideStatus.PENDING.value, OverrideStatus.REJECTED.value]},
        extra={"approval": request.pk, "comment": getattr(request, "outcome_note", "")},
    )


def _mark_cancelled(override: TierOverride, actor: Any) -> TierOverride:
    override.status = OverrideStatus.CANCELLED
    override.decided_at = timezone.now()
    override.save(update_fields=["status", "decided_at"])
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=override,
        verb=AUDIT_CANCELLED,
        changes={"status": [OverrideStatus.PENDING.value, OverrideStatus.CANCELLED.value]},
    )
    return override


def override_mark_cancelled(request: Any, actor: Any) -> TierOverride | None:
    """The approval request was withdrawn: the pending override is cancelled (nothing else changes)."""
    override = _override_of(request)
    if override is None or override.status != OverrideStatus.PENDING:
        return None
    return _mark_cancelled(override, actor)


def on_approval_decided(event: Any) -> None:
    """Subscriber of ``approval.decided``: a withdrawn ``tiering.override`` request cancels its override."""
    payload = event.payload or {}
    if payload.get("kind") != KIND or payload.get("status") != "cancelled" or event.subject is None:
        return
    override_mark_cancelled(event.subject, event.actor)


@transaction.atomic
def override_cancel(*, actor: Any, override: TierOverride) -> TierOverride:
    """The requester withdraws a pending override (and its approval request); nothing else changes."""
    from steelyard.core.services.approvals import approval_cancel

    override = (
        TierOverride.objects.select_for_update(of=("self",)).select_related("approval").get(pk=override.pk)
    )
    if override.requested_by_id != getattr(actor, "pk", None):
        raise PermissionDenied(str(ERR_NOT_REQUESTER))
    if override.status != OverrideStatus.PENDING:
        raise ValidationError(ERR_NOT_PENDING)
    if override.approval is not None and override.approval.status == "pending":
        approval_cancel(actor=actor, request=override.approval)  # its event cancels the override too
    override.refresh_from_db()
    if override.status == OverrideStatus.PENDING:
        _mark_cancelled(override, actor)
    return override


# --- expiry -----------------------------------------------------------------------------------------------


@transaction.atomic
def overrides_expire(*, today: dt.date | None = None, actor: Any = None) -> dict[str, int]:
    """End the overrides whose expiry has passed and put the assessed tier back (the daily job).

    Also closes pending overrides whose approval request was withdrawn or decided without them.
    Returns counts: ``expired`` overrides, ``restored`` customer tiers, ``customers`` whose
    ``Customer.tier`` changed, ``closed`` stale pending overrides.
    """
    today = today or timezone.localdate()
    counts = {"expired": 0, "restored": 0, "customers": 0, "closed": 0}
    for override in TierOverride.objects.select_for_update().filter(
        status=OverrideStatus.APPROVED, expires_on__lt=today
    ):
        override.status = OverrideStatus.EXPIRED
        override.save(update_fields=["status"])
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            obj=override,
            verb=AUDIT_EXPIRED,
            changes={"status": [OverrideStatus.APPROVED.value, OverrideStatus.EXPIRED.value]},
        )
        counts["expired"] += 1
    fields = ["override_tier", "override_until", "override_reason"]
    stale = (
        CustomerTier.objects.select_for_update(of=("self",))
        .filter(override_until__lt=today)
        .exclude(override_tier="")
        .select_related("model")
    )
    for ct in stale:
        before = snapshot(ct, fields)
        ct.override_tier, ct.override_until, ct.override_reason = "", None, ""
        ct.save(update_fields=fields)
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            obj=ct,
            verb=AUDIT_EXPIRED,
            changes=diff(before, snapshot(ct, fields)),
        )
        counts["restored"] += 1
        if _is_global(ct.model) and ct.tier:
            counts["customers"] += customer_tier_set(
                actor=actor, customer_id=ct.customer_id, tier=ct.tier, verb=AUDIT_EXPIRED
            )
    for override in (
        TierOverride.objects.select_for_update(of=("self",))
        .filter(status=OverrideStatus.PENDING, approval__isnull=False)
        .exclude(approval__status="pending")
        .select_related("approval")
    ):
        status = override.approval.status
        if status == "approved":
            override_apply(override.approval, actor)
        elif status == "rejected":
            override_reject(override.approval, actor)
        else:
            override_mark_cancelled(override.approval, actor)
        counts["closed"] += 1
    return counts


# --- entered values ---------------------------------------------------------------------------------------


def _clean_value(code: str, value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        number = Decimal("NaN")
    if code == FactorCode.POTENTIAL:
        if not number.is_finite() or number < 0 or number > POTENTIAL_MAX:
            raise ValidationError({code: ERR_POTENTIAL})
        return number.quantize(Decimal("0.01"))
    if not number.is_finite() or number < STRATEGIC_FIT_MIN or number > STRATEGIC_FIT_MAX:
        raise ValidationError({code: ERR_STRATEGIC_FIT})
    return number.quantize(Decimal("0.01"))


@transaction.atomic
def entered_values_set(
    *, actor: Any, customer: Customer, values: dict[str, Any], note: str = ""
) -> dict[str, EnteredValue]:
    """Set (or, with None, clear) the entered factor values of ``customer``: ``{code: value}``.

    Only the codes given are touched. Audited per value. The next assessment uses them.
    Returns the customer's entered values after the change, by code.
    """
    if not can_request(actor, customer):
        raise PermissionDenied(str(ERR_NOT_ALLOWED))
    errors: dict[str, Any] = {}
    clean: dict[str, Decimal | None] = {}
    for code, value in values.items():
        if code not in ENTERED_CODES:
            raise ValidationError({code: _("Not a factor people enter.")})
        try:
            clean[code] = _clean_value(code, value)
        except ValidationError as e:
            errors.update(e.error_dict)
    if errors:
        raise ValidationError(errors)
    note = (note or "").strip()[:300]
    current = {v.code: v for v in EnteredValue.objects.select_for_update().filter(customer=customer)}
    for code, value in clean.items():
        row = current.get(code)
        if value is None:
            if row is not None:
                audit_record(
                    actor=actor,
                    action=AuditAction.DELETE,
                    obj=row,
                    verb=AUDIT_ENTERED,
                    changes={"value": [str(row.value), None]},
                    extra={"customer": customer.pk, "code": code},
                )
                row.delete()
                current.pop(code)
            continue
        if row is None:
            row = EnteredValue.objects.create(
                customer=customer, code=code, value=value, note=note, entered_by=actor
            )
            current[code] = row
            audit_record(
                actor=actor,
                action=AuditAction.CREATE,
                obj=row,
                verb=AUDIT_ENTERED,
                changes={"value": [None, str(value)]},
                extra={"customer": customer.pk, "code": code},
            )
        elif row.value != value or (note and row.note != note):
            before = str(row.value)
            row.value, row.entered_by = value, actor
            if note:
                row.note = note
            row.save()
            audit_record(
                actor=actor,
                action=AuditAction.UPDATE,
                obj=row,
                verb=AUDIT_ENTERED,
                changes={"value": [before, str(value)]},
                extra={"customer": customer.pk, "code": code},
            )
    return current
