"""Writing opportunities: create, edit, solution lines, competitors, decision-makers, the virtual team, the
stage checklist, stage moves through the playbook's gates, closing (won / lost) and reopening.

Every service here:

- works on a row it re-reads and locks within the caller's **change** scope
  (``Opportunity.objects.visible_to(actor, "change")``: owner, team/subtree managers, the virtual team);
  outside it, ``PermissionDenied``;
- keeps the forecast cells exact: ``before = opportunity_figures(row)`` as stored, change, save,
  ``forecast_cells_apply(before, opportunity_figures(row))`` (see ``services.forecast``);
- is audited (``core.services.audit``) and keeps ``simple_history`` rows with the acting user;
- ends with :func:`opportunity_touch` (the activity clock of the stall flag) and
  ``services.risks.risks_refresh(ids=[pk])``;
- copies the saved values back onto the instance it was given, so callers keep using it.

The gate rule and the missing items come from ``services.stages``; a blocked forward move raises
``StageGateBlocked`` unless the rep asks for a manager's approval (kind :data:`KIND_STAGE_GATE`, registered in
``registrations/opportunities.py``), whose approval makes the move with ``StageVisit.approval`` set.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from steelyard.catalog.models import Product, ProductKind, ProductLine
from steelyard.core.access import user_has_role
from steelyard.core.events import publish
from steelyard.core.models import AuditAction
from steelyard.core.scopes import CHANGE
from steelyard.core.services.audit import audit_record, diff, snapshot
from steelyard.customers.models import Contact, Customer, DecisionRole
from steelyard.org.models import User
from steelyard.org.roles import MANAGERS
from steelyard.sales.models import (
    OPEN_CATEGORIES,
    Attitude,
    ChecklistEntry,
    CloseReason,
    Competitor,
    ForecastCategory,
    ItemKind,
    LineKind,
    Opportunity,
    OpportunityCompetitor,
    OpportunityContact,
    OpportunityLine,
    OpportunityMember,
    OpportunitySource,
    OpportunityStatus,
    PlaybookItem,
    PlaybookStage,
    StageVisit,
    TeamRole,
    ThreatLevel,
)
from steelyard.sales.selectors.playbooks import playbook_for
from steelyard.sales.services.forecast import forecast_cells_apply, opportunity_figures, weighted
from steelyard.sales.services.stages import MissingItem, StageGateBlocked, gate_missing

KIND_STAGE_GATE = "sales.stage_gate"
EVENT_WON = "opportunity.won"
CENT = Decimal("0.01")
ZERO = Decimal("0")

ERR_NOT_ALLOWED = _("You may not change this opportunity.")
ERR_CUSTOMER_NOT_ALLOWED = _("You can only create opportunities for customers you look after.")
ERR_CUSTOMER_MERGED = _("This customer was merged into another one; use that one.")
ERR_LINE_INACTIVE = _("Choose an active product line.")
ERR_NO_PLAYBOOK = _(
    "No sales playbook is active for this product line. Ask your administrator to activate one."
)
ERR_NO_OPEN_STAGE = _("The playbook has no open stage.")
ERR_NAME = _("Give the opportunity a name.")
ERR_CLOSE_DATE = _("Enter the expected close date.")
ERR_AMOUNT_NEGATIVE = _("The amount cannot be negative.")
ERR_PROBABILITY = _("The probability is a percentage from 0 to 100.")
ERR_CATEGORY = _("Choose pipeline, best case, commit or omitted; won and lost come from closing the deal.")
ERR_SOURCE = _("Choose a source from the list.")
ERR_UNKNOWN_FIELDS = _("These fields cannot be changed here: %(fields)s.")
ERR_CLOSED_FIGURES = _(
    "The deal is closed: reopen it to change its amount, probability, category or close date."
)
ERR_OWNER_MANAGER = _("Only a manager can give the opportunity to somebody else.")
ERR_OWNER_UNKNOWN = _("Choose an active person you manage.")
ERR_LINE_PRODUCT = _("Line %(n)s: choose a product or describe the line.")
ERR_LINE_PRODUCT_UNKNOWN = _("Line %(n)s: no such active product.")
ERR_LINE_KIND = _("Line %(n)s: choose machine, option, spare part or service contract.")
ERR_LINE_QUANTITY = _("Line %(n)s: the quantity must be a number above zero.")
ERR_LINE_PRICE = _("Line %(n)s: the unit price must be a number of zero or more.")
ERR_LINE_PARENT = _("Line %(n)s: an option belongs to a line above it.")
ERR_COMPETITOR_NAME = _("Name the competitor.")
ERR_COMPETITOR_UNKNOWN = _("No such competitor.")
ERR_THREAT = _("Choose low, medium or high.")
ERR_CONTACT = _("Choose a contact of this customer.")
ERR_ROLE = _("Choose a role in the decision.")
ERR_ATTITUDE = _("Choose champion, supporter, neutral or opponent.")
ERR_MEMBER_USER = _("Choose an active person.")
ERR_MEMBER_ROLE = _("Choose a team role (the owner changes through reassignment).")
ERR_MEMBER_UNKNOWN = _("No such team member on this opportunity.")
ERR_MEMBER_OWNER = _("The owner stays on the team; give the opportunity to somebody else instead.")
ERR_ITEM_UNKNOWN = _("This item is not on the opportunity's playbook.")
ERR_ITEM_FIELD = _("This item is satisfied by filling in the information it asks for, not by ticking it.")
ERR_ITEM_FILE_KIND = _("Only a required document takes a file.")
ERR_DOCUMENT_NEEDS_FILE = _("Attach the document to complete this item.")
ERR_CLOSED = _("The deal is closed. Reopen it first.")
ERR_STAGE_UNKNOWN = _("Choose a stage of this opportunity's playbook.")
ERR_SAME_STAGE = _("The opportunity is already in this stage.")
ERR_GATE = _(
    "Required items of the stage are missing. Complete them or ask your manager to approve the move."
)
ERR_OUTCOME = _("Choose won or lost.")
ERR_CLOSE_REASON = _("Choose why the deal was lost.")
ERR_CLOSE_REASON_UNKNOWN = _("Choose a reason from the list.")
ERR_CLOSED_ON_FUTURE = _("The close date cannot be in the future.")
ERR_NO_CLOSING_STAGE = _("The playbook has no closing stage for this outcome.")
ERR_NOT_CLOSED = _("The deal is still open.")
ERR_REOPEN = _("Only the owner or a manager can reopen a closed deal.")

#: Fields ``opportunity_update`` accepts.
UPDATABLE = frozenset(
    {
        "name",
        "amount",
        "amount_is_manual",
        "expected_close_date",
        "next_step",
        "next_step_date",
        "description",
        "source",
        "source_detail",
        "probability",
        "probability_is_manual",
        "forecast_category",
        "forecast_category_is_manual",
        "owner",
    }
)
#: Fields that move the forecast; a closed deal keeps them until it is reopened.
FIGURE_FIELDS = frozenset(
    {
        "amount",
        "amount_is_manual",
        "expected_close_date",
        "probability",
        "probability_is_manual",
        "forecast_category",
        "forecast_category_is_manual",
    }
)
AUDIT_FIELDS = (
    "name",
    "customer_id",
    "product_line_id",
    "playbook_id",
    "stage_id",
    "status",
    "amount",
    "amount_is_manual",
    "probability",
    "probability_is_manual",
    "forecast_category",
    "forecast_category_is_manual",
    "weighted_amount",
    "expected_close_date",
    "next_step",
    "next_step_date",
    "description",
    "source",
    "source_detail",
    "owner_id",
    "org_unit_id",
    "closed_on",
    "close_reason",
    "close_note",
    "lost_to_id",
)
#: Catalogue product kind → solution line kind.
LINE_KIND_OF_PRODUCT = {
    ProductKind.MACHINE: LineKind.MACHINE,
    ProductKind.OPTION: LineKind.OPTION,
    ProductKind.SPARE_PART: LineKind.PART,
    ProductKind.SERVICE: LineKind.SERVICE,
}
#: Fields whose dates are copied back onto the caller's instance (everything concrete).
_CONCRETE = [f.attname for f in Opportunity._meta.concrete_fields]
#: FK columns left out of ``clean_fields`` (each would cost a query; the services resolve them).
_FK_FIELDS = [
    "customer",
    "product_line",
    "playbook",
    "stage",
    "owner",
    "org_unit",
    "lost_to",
    "created_by",
    "number",
]


@dataclass(frozen=True)
class StageMove:
    """What ``opportunity_stage_move`` did: moved, or raised an approval request for the missing items."""

    moved: bool
    approval: Any = None
    missing: list[MissingItem] = field(default_factory=list)


# --- who may do what -----------------------------------------------------------------------------------


def is_manager(user: Any) -> bool:
    """Sales/service managers, directors, executives and administrators."""
    return user_has_role(user, *MANAGERS)


def can_change(user: Any, opportunity: Opportunity) -> bool:
    return Opportunity.objects.visible_to(user, CHANGE).filter(pk=opportunity.pk).exists()


def can_reassign(user: Any, opportunity: Opportunity) -> bool:
    return is_manager(user) and can_change(user, opportunity)


def can_reopen(user: Any, opportunity: Opportunity) -> bool:
    return (opportunity.owner_id == user.pk or is_manager(user)) and can_change(user, opportunity)


# --- plumbing ------------------------------------------------------------------------------------------


def _lock(actor: Any, opportunity: Opportunity | int) -> Opportunity:
    """The opportunity re-read and locked, if ``actor`` may change it; else ``PermissionDenied``."""
    pk = getattr(opportunity, "pk", opportunity)
    if not Opportunity.objects.visible_to(actor, CHANGE).filter(pk=pk).exists():
        raise PermissionDenied(ERR_NOT_ALLOWED)
    return Opportunity.objects.select_for_update().get(pk=pk)


def _copy_back(target: Any, fresh: Opportunity) -> None:
    if isinstance(target, Opportunity) and target is not fresh:
        for name in _CONCRETE:
            setattr(target, name, getattr(fresh, name))


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def _stage_defaults(opp: Opportunity) -> None:
    """Probability and category from the stage, unless the rep set them by hand."""
    stage = opp.stage
    if not opp.probability_is_manual:
        opp.probability = stage.probability
    if not opp.forecast_category_is_manual:
        category = stage.forecast_category
        opp.forecast_category = category if category in OPEN_CATEGORIES else ForecastCategory.PIPELINE


def _validate(opp: Opportunity) -> None:
    errors: dict[str, list[Any]] = {}
    if not (opp.name or "").strip():
        errors.setdefault("name", []).append(ERR_NAME)
    if opp.expected_close_date is None:
        errors.setdefault("expected_close_date", []).append(ERR_CLOSE_DATE)
    if opp.amount is None or opp.amount < 0:
        errors.setdefault("amount", []).append(ERR_AMOUNT_NEGATIVE)
    if opp.probability is None or not (ZERO <= opp.probability <= Decimal("100")):
        errors.setdefault("probability", []).append(ERR_PROBABILITY)
    if opp.source and opp.source not in OpportunitySource.values:
        errors.setdefault("source", []).append(ERR_SOURCE)
    if errors:
        raise ValidationError(errors)
    opp.clean_fields(exclude=[*_FK_FIELDS, *errors])


def _save(opp: Opportunity, actor: Any, before: Any) -> None:
    """Weighted amount, the row (with its history user) and the forecast delta."""
    opp.weighted_amount = weighted(opp.amount, opp.probability)
    opp._history_user = actor if getattr(actor, "pk", None) else None  # type: ignore[attr-defined]
    opp.save()
    forecast_cells_apply(before, opportunity_figures(opp))


def _finish(opp: Opportunity, original: Any = None) -> Opportunity:
    """Touch the activity clock, refresh the risk flags, hand the values back to the caller's instance."""
    from steelyard.sales.services.risks import risks_refresh

    opportunity_touch(opp)
    risks_refresh(ids=[opp.pk])
    opp.risk_flags = Opportunity.objects.filter(pk=opp.pk).values_list("risk_flags", flat=True).first() or ""
    _copy_back(original, opp)
    return opp


def _lines_total(opp: Opportunity) -> Decimal:
    total = ZERO
    for amount in OpportunityLine.objects.filter(opportunity=opp).values_list("amount", flat=True):
        total += amount
    return total.quantize(CENT)


def _sync_pool(customer_id: int) -> None:
    """Tell the public pool whether the customer still has an open opportunity."""
    from steelyard.customers.services.pool import customer_set_open_opportunity

    has_open = Opportunity.objects.filter(customer_id=customer_id, status=OpportunityStatus.OPEN).exists()
    customer = Customer.objects.get(pk=customer_id)
    customer_set_open_opportunity(customer=customer, has_open=has_open)


def opportunity_touch(opportunity: Opportunity, at: dt.datetime | None = None) -> None:
    """Something happened on the deal at ``at`` (default now): move ``last_activity_at`` forward, never back.

    Derived data: no audit row, no history row (``last_activity_at`` is not tracked)."""
    at = at or timezone.now()
    Opportunity.objects.filter(pk=opportunity.pk).filter(
        Q(last_activity_at__lt=at) | Q(last_activity_at__isnull=True)
    ).update(last_activity_at=at)
    if opportunity.last_activity_at is None or opportunity.last_activity_at < at:
        opportunity.last_activity_at = at


# --- create and edit -----------------------------------------------------------------------------------


def _owner_for(actor: Any, owner: Any) -> User:
    if owner is None or getattr(owner, "pk", owner) == actor.pk:
        return actor
    if not is_manager(actor):
        raise ValidationError({"owner": ERR_OWNER_MANAGER})
    pk = getattr(owner, "pk", owner)
    user = (
        User.objects.visible_to(actor)  # type: ignore[attr-defined]
        .filter(pk=pk, is_active=True, is_machine=False)
        .first()
    )
    if user is None:
        raise ValidationError({"owner": ERR_OWNER_UNKNOWN})
    return user


@transaction.atomic
def opportunity_create(
    *,
    actor: Any,
    customer: Customer | int,
    product_line: ProductLine | int,
    name: str,
    expected_close_date: dt.date | None,
    amount: Decimal | None = None,
    lines: Iterable[Mapping[str, Any]] = (),
    owner: Any = None,
    source: str = "",
    source_detail: str = "",
    next_step: str = "",
    next_step_date: dt.date | None = None,
    description: str = "",
) -> Opportunity:
    """A new deal on ``customer`` (one the actor may change), in the first stage of the line's playbook.

    The amount is the sum of ``lines`` (see :func:`opportunity_lines_set`) unless ``amount`` is given. The
    owner (default: the actor; another person only when a manager creates it) joins the virtual team, the
    deal counts in the forecast, and the customer's pool clock hears of a new opportunity.
    """
    customer_pk = getattr(customer, "pk", customer)
    customer_row = Customer.objects.visible_to(actor, CHANGE).filter(pk=customer_pk).first()
    if customer_row is None:
        raise PermissionDenied(ERR_CUSTOMER_NOT_ALLOWED)
    if customer_row.merged_into_id:
        raise ValidationError({"customer": ERR_CUSTOMER_MERGED})
    line_pk = getattr(product_line, "pk", product_line)
    line = ProductLine.objects.filter(pk=line_pk, is_active=True).first()
    if line is None:
        raise ValidationError({"product_line": ERR_LINE_INACTIVE})
    playbook = playbook_for(line.pk)
    if playbook is None:
        raise ValidationError({"product_line": ERR_NO_PLAYBOOK})
    stage = (
        PlaybookStage.objects.filter(playbook=playbook, is_won=False, is_lost=False).order_by("order").first()
    )
    if stage is None:
        raise ValidationError({"product_line": ERR_NO_OPEN_STAGE})
    owner_user = _owner_for(actor, owner)
    manual_amount = _decimal(amount) if amount not in (None, "") else None
    if amount not in (None, "") and manual_amount is None:
        raise ValidationError({"amount": ERR_AMOUNT_NEGATIVE})
    if manual_amount is not None:
        manual_amount = manual_amount.quantize(CENT, ROUND_HALF_UP)
    now = timezone.now()
    opp = Opportunity(
        number=f"OPP-NEW-{uuid.uuid4().hex[:20]}",
        name=(name or "").strip(),
        customer=customer_row,
        product_line=line,
        playbook=playbook,
        stage=stage,
        status=OpportunityStatus.OPEN,
        amount=manual_amount if manual_amount is not None else ZERO,
        amount_is_manual=manual_amount is not None,
        expected_close_date=expected_close_date,
        next_step=(next_step or "").strip(),
        next_step_date=next_step_date,
        description=description or "",
        source=source or "",
        source_detail=(source_detail or "").strip(),
        owner=owner_user,
        org_unit_id=owner_user.org_unit_id,
        stage_entered_at=now,
        last_activity_at=now,
        furthest_order=None if stage.is_lost else stage.order,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    _stage_defaults(opp)
    _validate(opp)
    opp.weighted_amount = weighted(opp.amount, opp.probability)
    opp._history_user = actor  # type: ignore[attr-defined]
    opp.save()
    # The number carries the id; set it without a second history row.
    opp.number = f"OPP-{timezone.localdate(now).year}-{opp.pk:06d}"
    Opportunity.objects.filter(pk=opp.pk).update(number=opp.number)
    opp.history.filter(id=opp.pk).update(number=opp.number)  # type: ignore[attr-defined]
    OpportunityMember.objects.create(opportunity=opp, user=owner_user, role=TeamRole.OWNER)
    StageVisit.objects.create(opportunity=opp, stage=stage, entered_at=now, entered_by=actor)
    lines = list(lines or ())
    if lines:
        _lines_replace(opp, lines)
        if not opp.amount_is_manual:
            opp.amount = _lines_total(opp)
            opp.weighted_amount = weighted(opp.amount, opp.probability)
            Opportunity.objects.filter(pk=opp.pk).update(
                amount=opp.amount, weighted_amount=opp.weighted_amount
            )
            opp.history.filter(id=opp.pk).update(  # type: ignore[attr-defined]
                amount=opp.amount, weighted_amount=opp.weighted_amount
            )
    forecast_cells_apply(None, opportunity_figures(opp))
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=opp,
        verb="sales.opportunity_created",
        changes=diff({}, snapshot(opp, AUDIT_FIELDS)),
        extra={"lines": len(lines)},
    )
    from steelyard.customers.services.pool import customer_record_event, customer_set_open_opportunity

    customer_record_event(customer=customer_row, event="opportunity", at=now)
    customer_set_open_opportunity(customer=customer_row, has_open=True)
    if owner_user.pk != actor.pk:
        _notify_owner(opp, owner_user, actor)
    return _finish(opp)


def _notify_owner(opp: Opportunity, owner: User, actor: Any) -> None:
    from steelyard.core.services.notifications import notify

    number, name = opp.number, opp.name
    notify(
        recipients=[owner],
        title=lambda: format_lazy(_("You now own the opportunity {number} {name}"), number=number, name=name),
        subject=opp,
        url=opp.get_absolute_url(),
        event="sales.opportunity_assigned",
        actor=actor,
    )


def _owner_set(actor: Any, opp: Opportunity, owner: Any) -> None:
    if owner is None or getattr(owner, "pk", owner) == opp.owner_id:
        return
    if not is_manager(actor):
        raise ValidationError({"owner": ERR_OWNER_MANAGER})
    new_owner = _owner_for(actor, owner)
    if new_owner.pk == opp.owner_id:
        return
    OpportunityMember.objects.filter(opportunity=opp, role=TeamRole.OWNER).delete()
    OpportunityMember.objects.get_or_create(opportunity=opp, user=new_owner, role=TeamRole.OWNER)
    opp.owner = new_owner
    opp.org_unit_id = new_owner.org_unit_id
    _notify_owner(opp, new_owner, actor)


@transaction.atomic
def opportunity_update(*, actor: Any, opportunity: Opportunity, **fields: Any) -> Opportunity:
    """Change the fields named in :data:`UPDATABLE`.

    - ``amount``: sets the amount by hand (``amount_is_manual``); ``amount=None`` or
      ``amount_is_manual=False`` goes back to the sum of the lines.
    - ``probability`` / ``forecast_category``: set by hand (their ``*_is_manual`` flag); ``None`` or the
      flag set to False goes back to the stage's value. A category is one an open deal may carry.
    - ``owner``: a manager gives the deal to another person; the owning unit follows the new owner.
    A closed deal keeps its figures (amount, probability, category, close date) until it is reopened.
    """
    unknown = sorted(set(fields) - UPDATABLE)
    if unknown:
        raise ValidationError(ERR_UNKNOWN_FIELDS, params={"fields": ", ".join(unknown)})
    opp = _lock(actor, opportunity)
    if not opp.is_open and FIGURE_FIELDS.intersection(fields):
        raise ValidationError(ERR_CLOSED_FIGURES)
    before_row = snapshot(opp, AUDIT_FIELDS)
    before = opportunity_figures(opp)
    if "owner" in fields:
        _owner_set(actor, opp, fields["owner"])
    for name in ("name", "next_step", "source_detail"):
        if name in fields:
            setattr(opp, name, (fields[name] or "").strip())
    for name in ("description", "source"):
        if name in fields:
            setattr(opp, name, fields[name] or "")
    for name in ("expected_close_date", "next_step_date"):
        if name in fields:
            setattr(opp, name, fields[name])
    errors: dict[str, Any] = {}
    if "amount" in fields:
        if fields["amount"] in (None, ""):
            opp.amount_is_manual = False
        else:
            value = _decimal(fields["amount"])
            if value is None:
                errors["amount"] = ERR_AMOUNT_NEGATIVE
            else:
                opp.amount = value.quantize(CENT, ROUND_HALF_UP)
                opp.amount_is_manual = bool(fields.get("amount_is_manual", True))
    elif "amount_is_manual" in fields:
        opp.amount_is_manual = bool(fields["amount_is_manual"])
    if opp.is_open:
        if "probability" in fields:
            if fields["probability"] in (None, ""):
                opp.probability_is_manual = False
            else:
                value = _decimal(fields["probability"])
                if value is None:
                    errors["probability"] = ERR_PROBABILITY
                else:
                    opp.probability = value
                    opp.probability_is_manual = bool(fields.get("probability_is_manual", True))
        elif "probability_is_manual" in fields:
            opp.probability_is_manual = bool(fields["probability_is_manual"])
        if "forecast_category" in fields:
            value = fields["forecast_category"]
            if value in (None, ""):
                opp.forecast_category_is_manual = False
            elif value not in OPEN_CATEGORIES:
                errors["forecast_category"] = ERR_CATEGORY
            else:
                opp.forecast_category = value
                opp.forecast_category_is_manual = bool(fields.get("forecast_category_is_manual", True))
        elif "forecast_category_is_manual" in fields:
            opp.forecast_category_is_manual = bool(fields["forecast_category_is_manual"])
        _stage_defaults(opp)
    if errors:
        raise ValidationError(errors)
    if not opp.amount_is_manual and opp.is_open:
        opp.amount = _lines_total(opp)
    _validate(opp)
    _save(opp, actor, before)
    changes = diff(before_row, snapshot(opp, AUDIT_FIELDS))
    if changes:
        audit_record(
            actor=actor, action=AuditAction.UPDATE, obj=opp, verb="sales.opportunity_updated", changes=changes
        )
    return _finish(opp, opportunity)


# --- solution lines ------------------------------------------------------------------------------------


def _get(spec: Any, key: str, default: Any = None) -> Any:
    if isinstance(spec, Mapping):
        return spec.get(key, default)
    return getattr(spec, key, default)


def _lines_replace(opp: Opportunity, lines: list[Any]) -> list[OpportunityLine]:
    """Replace the deal's lines with ``lines``; each a mapping (or object) of product (or its id), kind,
    description, quantity, unit_price (default: the product's list price) and parent (the 0-based index
    of an earlier line, for an option of it)."""
    product_ids = {getattr(p, "pk", p) for p in (_get(s, "product") for s in lines) if p not in (None, "")}
    products = {p.pk: p for p in Product.objects.filter(pk__in=product_ids, is_active=True)}
    OpportunityLine.objects.filter(opportunity=opp).delete()
    slots: list[OpportunityLine | None] = []  # one per given line (None: refused), for parent indexes
    errors: list[Any] = []
    for i, spec in enumerate(lines):
        n = i + 1
        slots.append(None)
        product_ref = _get(spec, "product")
        product = None
        if product_ref not in (None, ""):
            product = products.get(getattr(product_ref, "pk", product_ref))
            if product is None:
                errors.append(ValidationError(ERR_LINE_PRODUCT_UNKNOWN, params={"n": n}))
                continue
        description = (_get(spec, "description") or "").strip() or (product.name if product else "")
        if not description:
            errors.append(ValidationError(ERR_LINE_PRODUCT, params={"n": n}))
            continue
        kind = _get(spec, "kind") or (
            LINE_KIND_OF_PRODUCT.get(product.kind, LineKind.MACHINE) if product else LineKind.MACHINE
        )
        if kind not in LineKind.values:
            errors.append(ValidationError(ERR_LINE_KIND, params={"n": n}))
            continue
        raw_quantity = _get(spec, "quantity")
        quantity = Decimal("1") if raw_quantity in (None, "") else _decimal(raw_quantity)
        if quantity is None or quantity <= 0 or quantity >= Decimal("1e10"):
            errors.append(ValidationError(ERR_LINE_QUANTITY, params={"n": n}))
            continue
        raw_price = _get(spec, "unit_price")
        if raw_price in (None, ""):
            price = product.list_price if product else None
        else:
            price = _decimal(raw_price)
        if price is None or price < 0 or price >= Decimal("1e14"):
            errors.append(ValidationError(ERR_LINE_PRICE, params={"n": n}))
            continue
        parent = None
        parent_ref = _get(spec, "parent")
        if parent_ref not in (None, ""):
            try:
                index = int(parent_ref)
            except (TypeError, ValueError):
                index = -1
            if not 0 <= index < i or slots[index] is None:
                errors.append(ValidationError(ERR_LINE_PARENT, params={"n": n}))
                continue
            parent = slots[index]
        line = OpportunityLine.objects.create(
            opportunity=opp,
            parent=parent,
            product=product,
            kind=kind,
            description=description[:200],
            quantity=quantity.quantize(CENT, ROUND_HALF_UP),
            unit_price=price.quantize(CENT, ROUND_HALF_UP),
            amount=(quantity * price).quantize(CENT, ROUND_HALF_UP),
            order=i,
        )
        slots[i] = line
    if errors:
        raise ValidationError({"lines": errors})
    return [line for line in slots if line is not None]


@transaction.atomic
def opportunity_lines_set(
    *, actor: Any, opportunity: Opportunity, lines: Iterable[Any]
) -> list[OpportunityLine]:
    """Replace the configured solution (see :func:`_lines_replace` for a line's keys); the amount follows
    the sum of the lines unless it was set by hand."""
    opp = _lock(actor, opportunity)
    if not opp.is_open:
        raise ValidationError(ERR_CLOSED_FIGURES)
    before_row = snapshot(opp, AUDIT_FIELDS)
    before = opportunity_figures(opp)
    old = list(OpportunityLine.objects.filter(opportunity=opp).values("description", "quantity", "amount"))
    created = _lines_replace(opp, list(lines or ()))
    if not opp.amount_is_manual:
        opp.amount = _lines_total(opp)
    _save(opp, actor, before)
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=opp,
        verb="sales.opportunity_lines_set",
        changes=diff(before_row, snapshot(opp, AUDIT_FIELDS)),
        extra={
            "before": [{k: str(v) for k, v in row.items()} for row in old],
            "after": [
                {"description": x.description, "quantity": str(x.quantity), "amount": str(x.amount)}
                for x in created
            ],
        },
    )
    _finish(opp, opportunity)
    return created


# --- competitors, decision-makers, the team ---------------------------------------------------------


def _competitor(ref: Any, *, create: bool) -> Competitor:
    if isinstance(ref, Competitor):
        return ref
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit() and not create):
        found = Competitor.objects.filter(pk=int(ref)).first()
        if found is None:
            raise ValidationError({"competitor": ERR_COMPETITOR_UNKNOWN})
        return found
    name = (str(ref or "")).strip()
    if not name:
        raise ValidationError({"competitor": ERR_COMPETITOR_NAME})
    found = Competitor.objects.filter(Q(name__iexact=name) | Q(name_en__iexact=name)).first()
    if found is not None:
        return found
    if not create:
        raise ValidationError({"competitor": ERR_COMPETITOR_UNKNOWN})
    if len(name) > 100:
        raise ValidationError({"competitor": ERR_COMPETITOR_NAME})
    return Competitor.objects.create(name=name)


def _audit(actor: Any, opp: Opportunity, verb: str, **extra: Any) -> None:
    audit_record(actor=actor, action=AuditAction.UPDATE, obj=opp, verb=verb, extra=extra)


@transaction.atomic
def opportunity_competitor_set(
    *,
    actor: Any,
    opportunity: Opportunity,
    competitor: Competitor | int | str,
    strengths: str = "",
    weaknesses: str = "",
    threat: str = ThreatLevel.MEDIUM,
    price_position: str = "",
) -> OpportunityCompetitor:
    """Add a competitor to the deal, or update what we know of it. A new name creates the competitor."""
    opp = _lock(actor, opportunity)
    if threat not in ThreatLevel.values:
        raise ValidationError({"threat": ERR_THREAT})
    comp = _competitor(competitor, create=True)
    row, created = OpportunityCompetitor.objects.update_or_create(
        opportunity=opp,
        competitor=comp,
        defaults={
            "strengths": (strengths or "").strip(),
            "weaknesses": (weaknesses or "").strip(),
            "threat": threat,
            "price_position": (price_position or "").strip()[:100],
        },
    )
    _audit(
        actor,
        opp,
        "sales.opportunity_competitor_set",
        competitor=comp.name,
        threat=threat,
        created=created,
    )
    _finish(opp, opportunity)
    return row


@transaction.atomic
def opportunity_competitor_remove(
    *, actor: Any, opportunity: Opportunity, competitor: Competitor | int
) -> None:
    opp = _lock(actor, opportunity)
    comp = _competitor(competitor, create=False)
    deleted, _n = OpportunityCompetitor.objects.filter(opportunity=opp, competitor=comp).delete()
    if deleted:
        _audit(actor, opp, "sales.opportunity_competitor_removed", competitor=comp.name)
    _finish(opp, opportunity)


@transaction.atomic
def opportunity_contact_set(
    *,
    actor: Any,
    opportunity: Opportunity,
    contact: Contact | int,
    role: str,
    attitude: str = Attitude.NEUTRAL,
    note: str = "",
) -> OpportunityContact:
    """Put a contact of the customer on the deal with their role in the decision and their attitude."""
    opp = _lock(actor, opportunity)
    contact_row = Contact.objects.filter(
        pk=getattr(contact, "pk", contact), customer_id=opp.customer_id, is_active=True
    ).first()
    errors: dict[str, Any] = {}
    if contact_row is None:
        errors["contact"] = ERR_CONTACT
    if role not in DecisionRole.values:
        errors["role"] = ERR_ROLE
    if attitude not in Attitude.values:
        errors["attitude"] = ERR_ATTITUDE
    if errors:
        raise ValidationError(errors)
    assert contact_row is not None
    row, created = OpportunityContact.objects.update_or_create(
        opportunity=opp,
        contact=contact_row,
        defaults={"role": role, "attitude": attitude, "note": (note or "").strip()[:200]},
    )
    _audit(
        actor,
        opp,
        "sales.opportunity_contact_set",
        contact=contact_row.pk,
        name=contact_row.name,
        role=role,
        attitude=attitude,
        created=created,
    )
    _finish(opp, opportunity)
    return row


@transaction.atomic
def opportunity_contact_remove(*, actor: Any, opportunity: Opportunity, contact: Contact | int) -> None:
    opp = _lock(actor, opportunity)
    pk = getattr(contact, "pk", contact)
    deleted, _n = OpportunityContact.objects.filter(opportunity=opp, contact_id=pk).delete()
    if deleted:
        _audit(actor, opp, "sales.opportunity_contact_removed", contact=pk)
    _finish(opp, opportunity)


@transaction.atomic
def opportunity_member_add(
    *, actor: Any, opportunity: Opportunity, user: Any, role: str
) -> OpportunityMember:
    """Add a person to the deal's virtual team (they may then see and work the deal)."""
    opp = _lock(actor, opportunity)
    errors: dict[str, Any] = {}
    if role not in TeamRole.values or role == TeamRole.OWNER:
        errors["role"] = ERR_MEMBER_ROLE
    person = User.objects.filter(pk=getattr(user, "pk", user), is_active=True, is_machine=False).first()
    if person is None:
        errors["user"] = ERR_MEMBER_USER
    if errors:
        raise ValidationError(errors)
    assert person is not None
    member, created = OpportunityMember.objects.get_or_create(opportunity=opp, user=person, role=role)
    if created:
        _audit(actor, opp, "sales.opportunity_member_added", user=person.pk, name=str(person), role=role)
        from steelyard.core.services.notifications import notify

        number, name, role_label = opp.number, opp.name, TeamRole(role).label
        notify(
            recipients=[person],
            title=lambda: format_lazy(
                _("You joined the team of {number} {name} as {role}"),
                number=number,
                name=name,
                role=role_label,
            ),
            subject=opp,
            url=opp.get_absolute_url(),
            event="sales.opportunity_member_added",
            actor=actor,
        )
    _finish(opp, opportunity)
    return member


@transaction.atomic
def opportunity_member_remove(
    *, actor: Any, opportunity: Opportunity, member: OpportunityMember | int
) -> None:
    opp = _lock(actor, opportunity)
    row = OpportunityMember.objects.filter(pk=getattr(member, "pk", member), opportunity=opp).first()
    if row is None:
        raise ValidationError({"member": ERR_MEMBER_UNKNOWN})
    if row.role == TeamRole.OWNER:
        raise ValidationError({"member": ERR_MEMBER_OWNER})
    row.delete()
    _audit(actor, opp, "sales.opportunity_member_removed", user=row.user_id, role=row.role)
    _finish(opp, opportunity)


# --- the checklist -------------------------------------------------------------------------------------


@transaction.atomic
def checklist_set(
    *,
    actor: Any,
    opportunity: Opportunity,
    item: PlaybookItem | int,
    done: bool,
    note: str = "",
    uploaded_file: Any = None,
) -> ChecklistEntry:
    """Tick (or untick) a key task, or attach a required document (which completes it).

    Required information is satisfied by the deal's own data, so it cannot be ticked."""
    from steelyard.core.services.collaboration import attachment_add

    opp = _lock(actor, opportunity)
    item_row = (
        PlaybookItem.objects.select_related("stage")
        .filter(pk=getattr(item, "pk", item), stage__playbook_id=opp.playbook_id)
        .first()
    )
    if item_row is None:
        raise ValidationError({"item": ERR_ITEM_UNKNOWN})
    if item_row.kind == ItemKind.FIELD:
        raise ValidationError({"item": ERR_ITEM_FIELD})
    if uploaded_file is not None and item_row.kind != ItemKind.DOCUMENT:
        raise ValidationError({"file": ERR_ITEM_FILE_KIND})
    entry, _created = ChecklistEntry.objects.get_or_create(opportunity=opp, item=item_row)
    attachment = None
    if uploaded_file is not None:
        attachment = attachment_add(actor=actor, subject=opp, uploaded_file=uploaded_file)
        entry.attachment = attachment
        done = True
    if done and item_row.kind == ItemKind.DOCUMENT and entry.attachment_id is None:
        raise ValidationError({"file": ERR_DOCUMENT_NEEDS_FILE})
    was_done = entry.done
    entry.done = bool(done)
    if entry.done and not was_done:
        entry.done_by = actor
        entry.done_at = timezone.now()
    elif not entry.done:
        entry.done_by, entry.done_at = None, None
    entry.note = (note or "").strip()[:300]
    entry.save()
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=opp,
        verb="sales.checklist_set",
        changes={
            "checklist": [{"item": item_row.pk, "done": was_done}, {"item": item_row.pk, "done": entry.done}]
        },
        extra={"item": item_row.pk, "label": item_row.label, "attachment": getattr(attachment, "pk", None)},
    )
    _finish(opp, opportunity)
    return entry


# --- stages, closing, reopening ------------------------------------------------------------------------


def _stage_of(opp: Opportunity, ref: Any) -> PlaybookStage:
    qs = PlaybookStage.objects.filter(playbook_id=opp.playbook_id)
    if isinstance(ref, PlaybookStage):
        stage = qs.filter(pk=ref.pk).first()
    elif isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        stage = qs.filter(pk=int(ref)).first()
    else:
        stage = qs.filter(code=str(ref or "")).first()
    if stage is None:
        raise ValidationError({"to_stage": ERR_STAGE_UNKNOWN})
    return stage


def _enter(
    opp: Opportunity, stage: PlaybookStage, *, by: Any, approval: Any = None, missing: Any = ()
) -> None:
    """Leave the current stage visit and open one in ``stage``."""
    now = timezone.now()
    StageVisit.objects.filter(opportunity=opp, left_at__isnull=True).update(left_at=now)
    StageVisit.objects.create(
        opportunity=opp,
        stage=stage,
        entered_at=now,
        entered_by=by if getattr(by, "pk", None) else None,
        approval=approval,
        missing=[str(m) for m in missing],
    )
    opp.stage = stage
    opp.stage_entered_at = now
    if not stage.is_lost and (opp.furthest_order is None or stage.order > opp.furthest_order):
        opp.furthest_order = stage.order  # services.funnel: saved with the deal by the caller


def _move(
    actor: Any,
    opp: Opportunity,
    stage: PlaybookStage,
    *,
    by: Any = None,
    approval: Any = None,
    missing: Any = (),
) -> None:
    before_row = snapshot(opp, AUDIT_FIELDS)
    before = opportunity_figures(opp)
    from_stage = opp.stage
    _enter(opp, stage, by=by or actor, approval=approval, missing=missing)
    _stage_defaults(opp)
    _save(opp, actor, before)
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=opp,
        verb="sales.opportunity_stage_moved",
        changes=diff(before_row, snapshot(opp, AUDIT_FIELDS)),
        extra={
            "from": from_stage.code,
            "to": stage.code,
            "approval": getattr(approval, "pk", None),
            "missing": [str(m) for m in missing],
        },
    )


def _closing_stage(opp: Opportunity, outcome: str) -> PlaybookStage:
    flag = {"won": "is_won", "lost": "is_lost"}[outcome]
    stage = (
        PlaybookStage.objects.filter(playbook_id=opp.playbook_id, **{flag: True}).order_by("order").first()
    )
    if stage is None:
        raise ValidationError({"outcome": ERR_NO_CLOSING_STAGE})
    return stage


def _won_payload(opp: Opportunity) -> dict[str, Any]:
    owner = opp.owner
    return {
        "opportunity_id": opp.pk,
        "number": opp.number,
        "name": opp.name,
        "customer_id": opp.customer_id,
        "product_line": opp.product_line.code,
        "amount": str(opp.amount),
        "currency": opp.currency,
        "closed_on": opp.closed_on.isoformat() if opp.closed_on else None,
        "owner": {"id": owner.pk, "username": owner.username, "name": str(owner)},
    }


def _close(
    actor: Any,
    opp: Opportunity,
    *,
    outcome: str,
    reason: str,
    note: str = "",
    lost_to: Any = None,
    closed_on: dt.date | None = None,
    by: Any = None,
    approval: Any = None,
    missing: Any = (),
) -> None:
    errors: dict[str, Any] = {}
    reason = reason or ""
    if outcome == "lost" and not reason:
        errors["close_reason"] = ERR_CLOSE_REASON
    elif reason and reason not in CloseReason.values:
        errors["close_reason"] = ERR_CLOSE_REASON_UNKNOWN
    today = timezone.localdate()
    closed_on = closed_on or today
    if closed_on > today:
        errors["closed_on"] = ERR_CLOSED_ON_FUTURE
    if errors:
        raise ValidationError(errors)
    lost_to_row = None
    if outcome == "lost" and lost_to not in (None, ""):
        lost_to_row = _competitor(lost_to, create=True)
    stage = _closing_stage(opp, outcome)
    before_row = snapshot(opp, AUDIT_FIELDS)
    before = opportunity_figures(opp)
    from_stage = opp.stage
    _enter(opp, stage, by=by or actor, approval=approval, missing=missing)
    opp.status = OpportunityStatus.WON if outcome == "won" else OpportunityStatus.LOST
    opp.probability = stage.probability
    opp.forecast_category = ForecastCategory.CLOSED_WON if outcome == "won" else ForecastCategory.CLOSED_LOST
    opp.probability_is_manual = opp.forecast_category_is_manual = False
    opp.closed_on = closed_on
    opp.close_reason = reason
    opp.close_note = (note or "").strip()
    opp.lost_to = lost_to_row
    _save(opp, actor, before)
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=opp,
        verb=f"sales.opportunity_{outcome}",
        changes=diff(before_row, snapshot(opp, AUDIT_FIELDS)),
        extra={"from": from_stage.code, "approval": getattr(approval, "pk", None)},
    )
    if outcome == "won":
        publish(EVENT_WON, payload=_won_payload(opp), subject=opp, actor=actor)
    _sync_pool(opp.customer_id)


@transaction.atomic
def opportunity_stage_move(
    *,
    actor: Any,
    opportunity: Opportunity,
    to_stage: PlaybookStage | int | str,
    request_approval: bool = False,
    reason: str = "",
    close_reason: str = "",
    note: str = "",
    lost_to: Any = None,
    closed_on: dt.date | None = None,
) -> StageMove:
    """Move the deal to ``to_stage`` (a stage of its playbook: the object, its id or its code).

    Forward past required items that are missing: ``StageGateBlocked`` (listing them), or with
    ``request_approval`` an approval request of kind :data:`KIND_STAGE_GATE` (``reason`` explains it) and
    nothing moves yet. Backwards: no gate. To the won stage: closing as won (through the same gate); to
    the lost stage: closing as lost, which needs ``close_reason`` (a ``CloseReason``).
    """
    opp = _lock(actor, opportunity)
    if not opp.is_open:
        raise ValidationError(ERR_CLOSED)
    stage = _stage_of(opp, to_stage)
    if stage.pk == opp.stage_id:
        raise ValidationError({"to_stage": ERR_SAME_STAGE})
    if stage.is_lost:
        _close(
            actor,
            opp,
            outcome="lost",
            reason=close_reason or (reason if reason in CloseReason.values else ""),
            note=note,
            lost_to=lost_to,
            closed_on=closed_on,
        )
        _finish(opp, opportunity)
        return StageMove(True, None, [])
    missing = gate_missing(opp, stage)
    if missing:
        if not request_approval:
            raise StageGateBlocked(ERR_GATE, missing)
        from steelyard.core.services.approvals import approval_request_create

        change: dict[str, Any] = {
            "to_stage": stage.pk,
            "to_stage_code": stage.code,
            "missing": [m.label for m in missing],
        }
        if stage.is_won:
            change.update(
                {
                    "close_reason": close_reason or "",
                    "note": note or "",
                    "closed_on": closed_on.isoformat() if closed_on else None,
                }
            )
        approval = approval_request_create(
            actor=actor,
            subject=opp,
            kind=KIND_STAGE_GATE,
            requested_change=change,
            reason=reason,
        )
        _finish(opp, opportunity)
        return StageMove(False, approval, missing)
    if stage.is_won:
        _close(actor, opp, outcome="won", reason=close_reason, note=note, closed_on=closed_on)
    else:
        _move(actor, opp, stage)
    _finish(opp, opportunity)
    return StageMove(True, None, [])


@transaction.atomic
def opportunity_close(
    *,
    actor: Any,
    opportunity: Opportunity,
    outcome: str,
    reason: str = "",
    note: str = "",
    lost_to: Any = None,
    closed_on: dt.date | None = None,
) -> Opportunity:
    """Close the deal as ``won`` (through the gate, like a forward move; publishes ``opportunity.won``) or
    ``lost`` (``reason`` required; ``lost_to`` a competitor, its id or a new name)."""
    if outcome not in ("won", "lost"):
        raise ValidationError({"outcome": ERR_OUTCOME})
    opp = _lock(actor, opportunity)
    if not opp.is_open:
        raise ValidationError(ERR_CLOSED)
    if outcome == "won":
        missing = gate_missing(opp, _closing_stage(opp, "won"))
        if missing:
            raise StageGateBlocked(ERR_GATE, missing)
    _close(actor, opp, outcome=outcome, reason=reason, note=note, lost_to=lost_to, closed_on=closed_on)
    return _finish(opp, opportunity)


@transaction.atomic
def opportunity_reopen(*, actor: Any, opportunity: Opportunity, reason: str = "") -> Opportunity:
    """Reopen a won or lost deal (its owner or a manager): back to the last open stage it was in."""
    opp = _lock(actor, opportunity)
    if opp.is_open:
        raise ValidationError(ERR_NOT_CLOSED)
    if not (opp.owner_id == actor.pk or is_manager(actor)):
        raise PermissionDenied(ERR_REOPEN)
    last = (
        StageVisit.objects.filter(opportunity=opp, stage__is_won=False, stage__is_lost=False)
        .select_related("stage")
        .order_by("-entered_at", "-id")
        .first()
    )
    stage = (
        last.stage
        if last is not None
        else (
            PlaybookStage.objects.filter(playbook_id=opp.playbook_id, is_won=False, is_lost=False)
            .order_by("order")
            .first()
        )
    )
    if stage is None:
        raise ValidationError(ERR_NO_OPEN_STAGE)
    before_row = snapshot(opp, AUDIT_FIELDS)
    before = opportunity_figures(opp)
    _enter(opp, stage, by=actor)
    opp.status = OpportunityStatus.OPEN
    opp.closed_on = None
    opp.close_reason = ""
    opp.close_note = ""
    opp.lost_to = None
    _stage_defaults(opp)
    _save(opp, actor, before)
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        obj=opp,
        verb="sales.opportunity_reopened",
        changes=diff(before_row, snapshot(opp, AUDIT_FIELDS)),
        extra={"reason": (reason or "").strip()},
    )
    _sync_pool(opp.customer_id)
    return _finish(opp, opportunity)


@transaction.atomic
def opportunities_reassign_bulk(*, actor: Any, from_user: User, to_user: User) -> int:
    """Move ``from_user``'s open deals to ``to_user`` (the customers' bulk reassignment hook; the caller
    checked that ``actor`` may). Each deal's owning unit, owner team member and forecast cell follow."""
    ids = list(
        Opportunity.objects.filter(owner=from_user, status=OpportunityStatus.OPEN)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for pk in ids:
        opp = Opportunity.objects.select_for_update().get(pk=pk)
        before_row = snapshot(opp, AUDIT_FIELDS)
        before = opportunity_figures(opp)
        OpportunityMember.objects.filter(opportunity=opp, role=TeamRole.OWNER).delete()
        OpportunityMember.objects.get_or_create(opportunity=opp, user=to_user, role=TeamRole.OWNER)
        opp.owner = to_user
        opp.org_unit_id = to_user.org_unit_id
        _save(opp, actor, before)
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            obj=opp,
            verb="sales.opportunity_reassigned",
            changes=diff(before_row, snapshot(opp, AUDIT_FIELDS)),
        )
    return len(ids)


# --- the stage-gate approval ---------------------------------------------------------------------------


def stage_gate_approved(request: Any, actor: Any) -> None:
    """``on_approved`` of :data:`KIND_STAGE_GATE`: make the move the rep asked for, past the missing items.

    Nothing happens when the deal was closed or already moved to (or past) that stage meanwhile."""
    change = request.requested_change or {}
    opp = Opportunity.objects.select_for_update().filter(pk=request.object_id).first()
    if opp is None or not opp.is_open:
        return
    stage = PlaybookStage.objects.filter(pk=change.get("to_stage"), playbook_id=opp.playbook_id).first()
    if stage is None or stage.order <= opp.stage.order:
        return
    missing = [m.label for m in gate_missing(opp, stage)]
    requester = request.requester
    if stage.is_won:
        closed_on = change.get("closed_on")
        _close(
            actor,
            opp,
            outcome="won",
            reason=change.get("close_reason") or "",
            note=change.get("note") or "",
            closed_on=dt.date.fromisoformat(closed_on) if closed_on else None,
            by=requester,
            approval=request,
            missing=missing,
        )
    else:
        _move(actor, opp, stage, by=requester, approval=request, missing=missing)
    _finish(opp)


def stage_gate_describe(change: dict[str, Any]) -> list[tuple[Any, Any]]:
    """The rows an approver reads: the stage asked for and what is missing."""
    from steelyard.sales.selectors.opportunities import stage_name

    stage = PlaybookStage.objects.filter(pk=change.get("to_stage")).first()
    return [
        (_("Move to stage"), stage_name(stage) if stage else change.get("to_stage_code", "")),
        (_("Items missing"), ", ".join(change.get("missing") or []) or "—"),
    ]
