"""Framework (long-term) agreements: the terms, the planned quantities per product per period, and the
agreement's life (draft → in force → ended).

A :class:`~steelyard.sales.models.FrameworkAgreement` plans per month or per quarter (``period``). A planned
quantity (:class:`~steelyard.sales.models.FrameworkLine`) is keyed by the period's **first day**
(``period_start``): any day given is normalised to the first day of its month or quarter, and the period
must overlap the agreement's term (``starts_on``..``ends_on``). Actual orders are compared with the plan by
``selectors.agreements.agreement_plan_vs_actual``.

Who: whoever may change the customer (``Customer.objects.visible_to(actor, "change")``: its owner, their
managers, administrators). Every write is audited. Planned quantities are edited in draft and in force;
an ended agreement is history.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from steelyard.catalog.models import Product
from steelyard.core.models import AuditAction
from steelyard.core.scopes import CHANGE
from steelyard.core.services.audit import audit_record, diff, snapshot
from steelyard.customers.models import Customer
from steelyard.sales.models import AgreementPeriod, AgreementStatus, FrameworkAgreement, FrameworkLine

CENT = Decimal("0.01")
MAX_QUANTITY = Decimal("10000000")
MAX_TERM_DAYS = 366 * 10
MAX_LINES = 2000

AUDIT_CREATED = "sales.agreement_created"
AUDIT_UPDATED = "sales.agreement_updated"
AUDIT_PLAN = "sales.agreement_plan_set"
AUDIT_ACTIVATED = "sales.agreement_activated"
AUDIT_ENDED = "sales.agreement_ended"

ERR_FORBIDDEN = _("You may not change this customer's agreements.")
ERR_TITLE = _("Give the agreement a title.")
ERR_PERIOD = _("Choose month or quarter.")
ERR_DATES = _("The agreement must end on or after its start.")
ERR_TERM_TOO_LONG = _("An agreement can run for at most ten years.")
ERR_NUMBER_TAKEN = _("Another agreement already has the number %(number)s.")
ERR_CONTRACT_CUSTOMER = _("The contract belongs to another customer.")
ERR_ENDED = _("The agreement has ended: it can no longer be changed.")
ERR_PERIOD_CHANGE = _("Remove the planned quantities before planning per another period.")
ERR_LINES_OUTSIDE = _(
    "Planned quantities fall outside the new dates (%(periods)s): change or remove them first."
)
ERR_NOT_DRAFT = _("Only a draft agreement can be put in force.")
ERR_NO_PLAN = _("Plan at least one quantity before putting the agreement in force.")
ERR_NOT_ACTIVE = _("Only an agreement in force can be ended.")
ERR_TOO_MANY = _("At most %(max)s planned quantities per agreement.")
ERR_LINE_PRODUCT = _("Row %(n)s: choose a product.")
ERR_LINE_PERIOD = _("Row %(n)s: enter the period (any day of it).")
ERR_LINE_OUTSIDE = _("Row %(n)s: the period %(period)s is outside the agreement (%(start)s to %(end)s).")
ERR_LINE_QUANTITY = _("Row %(n)s: enter a quantity from 0 to 10,000,000.")
ERR_LINE_TWICE = _("Row %(n)s: this product and period are planned twice.")

FIELDS = ["number", "title", "period", "starts_on", "ends_on", "status", "notes", "contract"]


# --- periods ---------------------------------------------------------------------------------------------


def period_start_of(day: dt.date, period: str) -> dt.date:
    """The first day of the month or quarter ``day`` falls in."""
    if period == AgreementPeriod.QUARTER:
        return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return day.replace(day=1)


def next_period(start: dt.date, period: str) -> dt.date:
    months = 3 if period == AgreementPeriod.QUARTER else 1
    month = start.month - 1 + months
    return dt.date(start.year + month // 12, month % 12 + 1, 1)


def period_end_of(start: dt.date, period: str) -> dt.date:
    return next_period(start, period) - dt.timedelta(days=1)


def agreement_periods(agreement: FrameworkAgreement) -> list[dt.date]:
    """The first days of every period the agreement's term touches, in order."""
    out = []
    start = period_start_of(agreement.starts_on, agreement.period)
    while start <= agreement.ends_on and len(out) < 200:
        out.append(start)
        start = next_period(start, agreement.period)
    return out


def period_label(start: dt.date, period: str) -> str:
    """``2025-03`` for a month, ``2025 Q1`` for a quarter."""
    if period == AgreementPeriod.QUARTER:
        return f"{start.year} Q{(start.month - 1) // 3 + 1}"
    return f"{start:%Y-%m}"


# --- helpers ---------------------------------------------------------------------------------------------


def can_change(user: Any, agreement: FrameworkAgreement) -> bool:
    return FrameworkAgreement.objects.visible_to(user, CHANGE).filter(pk=agreement.pk).exists()


def _require_change(actor: Any, agreement: FrameworkAgreement) -> None:
    if actor is not None and not can_change(actor, agreement):
        raise PermissionDenied(ERR_FORBIDDEN)


def _lock(agreement: FrameworkAgreement) -> FrameworkAgreement:
    return (
        FrameworkAgreement.objects.select_for_update(of=("self",))
        .select_related("customer")
        .get(pk=agreement.pk)
    )


def _terms_clean(*, title: str, period: str, starts_on: dt.date | None, ends_on: dt.date | None) -> None:
    errors: dict[str, Any] = {}
    if not (title or "").strip():
        errors["title"] = ERR_TITLE
    if period not in AgreementPeriod.values:
        errors["period"] = ERR_PERIOD
    if starts_on is None:
        errors["starts_on"] = _("Enter the start date.")
    if ends_on is None:
        errors["ends_on"] = _("Enter the end date.")
    if starts_on and ends_on:
        if ends_on < starts_on:
            errors["ends_on"] = ERR_DATES
        elif (ends_on - starts_on).days > MAX_TERM_DAYS:
            errors["ends_on"] = ERR_TERM_TOO_LONG
    if errors:
        raise ValidationError(errors)


def _number_clean(number: str, *, exclude_pk: int | None = None) -> str:
    number = (number or "").strip()[:40]
    if number and FrameworkAgreement.objects.filter(number=number).exclude(pk=exclude_pk).exists():
        raise ValidationError({"number": ValidationError(ERR_NUMBER_TAKEN, params={"number": number})})
    return number


def _audit(
    actor: Any, agreement: FrameworkAgreement, verb: str, before: dict[str, Any] | None = None, **extra: Any
) -> None:
    audit_record(
        actor=actor,
        action=AuditAction.CREATE if before is None else AuditAction.UPDATE,
        obj=agreement,
        verb=verb,
        changes=diff(before or {}, snapshot(agreement, FIELDS)),
        extra=extra or None,
    )


# --- create and edit -------------------------------------------------------------------------------------


@transaction.atomic
def agreement_create(
    *,
    actor: Any,
    customer: Customer,
    title: str,
    period: str = AgreementPeriod.QUARTER,
    starts_on: dt.date,
    ends_on: dt.date,
    number: str = "",
    contract: Any = None,
    notes: str = "",
) -> FrameworkAgreement:
    """A draft agreement with ``customer``; numbered ``FA-<year>-<id:05d>`` unless ``number`` is given."""
    if actor is not None and not Customer.objects.visible_to(actor, CHANGE).filter(pk=customer.pk).exists():
        raise PermissionDenied(ERR_FORBIDDEN)
    _terms_clean(title=title, period=period, starts_on=starts_on, ends_on=ends_on)
    number = _number_clean(number)
    if contract is not None and contract.customer_id != customer.pk:
        raise ValidationError({"contract": ERR_CONTRACT_CUSTOMER})
    agreement = FrameworkAgreement.objects.create(
        number=number or f"tmp-{uuid.uuid4().hex[:32]}",
        customer=customer,
        contract=contract,
        title=title.strip()[:200],
        period=period,
        starts_on=starts_on,
        ends_on=ends_on,
        notes=(notes or "").strip(),
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    if not number:
        year = timezone.localtime(agreement.created_at).year
        agreement.number = f"FA-{year}-{agreement.pk:05d}"
        agreement.save(update_fields=["number"])
    _audit(actor, agreement, AUDIT_CREATED)
    return agreement


@transaction.atomic
def agreement_update(
    *,
    actor: Any,
    agreement: FrameworkAgreement,
    title: str | None = None,
    number: str | None = None,
    period: str | None = None,
    starts_on: dt.date | None = None,
    ends_on: dt.date | None = None,
    notes: str | None = None,
) -> FrameworkAgreement:
    """Change the terms (fields left None keep their value). The period kind changes only while nothing is
    planned; new dates must still cover every planned quantity."""
    _require_change(actor, agreement)
    agreement = _lock(agreement)
    if agreement.status == AgreementStatus.ENDED:
        raise ValidationError(ERR_ENDED)
    new_title = agreement.title if title is None else title
    new_period = agreement.period if period is None else period
    new_start = starts_on or agreement.starts_on
    new_end = ends_on or agreement.ends_on
    _terms_clean(title=new_title, period=new_period, starts_on=new_start, ends_on=new_end)
    lines = FrameworkLine.objects.filter(agreement=agreement)
    if new_period != agreement.period and lines.exists():
        raise ValidationError({"period": ERR_PERIOD_CHANGE})
    first_period = period_start_of(new_start, new_period)
    outside = sorted(
        {d for d in lines.values_list("period_start", flat=True) if d < first_period or d > new_end}
    )
    if outside:
        raise ValidationError(
            ERR_LINES_OUTSIDE, params={"periods": ", ".join(period_label(d, new_period) for d in outside[:6])}
        )
    before = snapshot(agreement, FIELDS)
    if number is not None and number.strip() and number.strip() != agreement.number:
        agreement.number = _number_clean(number, exclude_pk=agreement.pk)
    agreement.title = new_title.strip()[:200]
    agreement.period, agreement.starts_on, agreement.ends_on = new_period, new_start, new_end
    if notes is not None:
        agreement.notes = notes.strip()
    agreement.save()
    if diff(before, snapshot(agreement, FIELDS)):
        _audit(actor, agreement, AUDIT_UPDATED, before)
    return agreement


def _quantity(value: Any) -> Decimal | None:
    if value is None or value == "":
        return Decimal("0")
    try:
        d = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        return None
    if not d.is_finite() or d < 0 or d > MAX_QUANTITY:
        return None
    return d.quantize(CENT, ROUND_HALF_UP)


@transaction.atomic
def agreement_lines_set(
    *,
    actor: Any,
    agreement: FrameworkAgreement,
    lines: Iterable[Mapping[str, Any]],
    replace: bool = False,
) -> FrameworkAgreement:
    """Set planned quantities: each ``{"product", "period_start", "planned_quantity"}`` (product: a Product or
    its id; period_start: any day of the period). A quantity of 0 (or empty) removes that cell. With
    ``replace`` every cell not given is removed too. Errors are keyed ``lines.<index>.<field>``."""
    _require_change(actor, agreement)
    agreement = _lock(agreement)
    if agreement.status == AgreementStatus.ENDED:
        raise ValidationError(ERR_ENDED)
    lines = list(lines)
    if len(lines) > MAX_LINES:
        raise ValidationError({"lines": ValidationError(ERR_TOO_MANY, params={"max": MAX_LINES})})
    ids = set()
    for line in lines:
        p = line.get("product")
        if isinstance(p, Product):
            ids.add(p.pk)
        else:
            try:
                ids.add(int(p))
            except (TypeError, ValueError):
                pass
    products = {p.pk: p for p in Product.objects.filter(pk__in=ids)}
    first_period = period_start_of(agreement.starts_on, agreement.period)
    errors: dict[str, list[Any]] = {}
    cells: dict[tuple[int, dt.date], Decimal] = {}
    for i, line in enumerate(lines):
        n, key = i + 1, f"lines.{i}"
        p = line.get("product")
        try:
            product = products.get(p.pk if isinstance(p, Product) else int(p))
        except (TypeError, ValueError):
            product = None
        if product is None:
            errors.setdefault(f"{key}.product", []).append(ValidationError(ERR_LINE_PRODUCT, params={"n": n}))
        day = line.get("period_start")
        if isinstance(day, str):
            try:
                day = dt.date.fromisoformat(day.strip())
            except ValueError:
                day = None
        if isinstance(day, dt.datetime):
            day = day.date()
        if not isinstance(day, dt.date):
            errors.setdefault(f"{key}.period_start", []).append(
                ValidationError(ERR_LINE_PERIOD, params={"n": n})
            )
            day = None
        else:
            day = period_start_of(day, agreement.period)
            if day < first_period or day > agreement.ends_on:
                errors.setdefault(f"{key}.period_start", []).append(
                    ValidationError(
                        ERR_LINE_OUTSIDE,
                        params={
                            "n": n,
                            "period": period_label(day, agreement.period),
                            "start": agreement.starts_on.isoformat(),
                            "end": agreement.ends_on.isoformat(),
                        },
                    )
                )
        quantity = _quantity(line.get("planned_quantity"))
        if quantity is None:
            errors.setdefault(f"{key}.planned_quantity", []).append(
                ValidationError(ERR_LINE_QUANTITY, params={"n": n})
            )
        if product is None or day is None or quantity is None:
            continue
        if (product.pk, day) in cells:
            errors.setdefault(f"{key}.period_start", []).append(
                ValidationError(ERR_LINE_TWICE, params={"n": n})
            )
            continue
        cells[(product.pk, day)] = quantity
    if errors:
        raise ValidationError(errors)
    existing = {
        (ln.product_id, ln.period_start): ln for ln in FrameworkLine.objects.filter(agreement=agreement)
    }
    before = {f"{p}:{d.isoformat()}": str(ln.planned_quantity) for (p, d), ln in existing.items()}
    to_delete = [
        ln.pk for k, ln in existing.items() if (k in cells and not cells[k]) or (replace and k not in cells)
    ]
    to_update, to_create = [], []
    for (product_id, day), quantity in cells.items():
        if not quantity:
            continue
        line = existing.get((product_id, day))
        if line is None:
            to_create.append(
                FrameworkLine(
                    agreement=agreement, product_id=product_id, period_start=day, planned_quantity=quantity
                )
            )
        elif line.planned_quantity != quantity:
            line.planned_quantity = quantity
            to_update.append(line)
    FrameworkLine.objects.filter(pk__in=to_delete).delete()
    FrameworkLine.objects.bulk_update(to_update, ["planned_quantity"])
    FrameworkLine.objects.bulk_create(to_create)
    after = {
        f"{p}:{d.isoformat()}": str(q)
        for p, d, q in FrameworkLine.objects.filter(agreement=agreement).values_list(
            "product_id", "period_start", "planned_quantity"
        )
    }
    changes = {
        k: [before.get(k), after.get(k)]
        for k in sorted(set(before) | set(after))
        if before.get(k) != after.get(k)
    }
    if changes:
        audit_record(actor=actor, action=AuditAction.UPDATE, obj=agreement, verb=AUDIT_PLAN, changes=changes)
        FrameworkAgreement.objects.filter(pk=agreement.pk).update(updated_at=timezone.now())
    return agreement


@transaction.atomic
def agreement_activate(*, actor: Any, agreement: FrameworkAgreement) -> FrameworkAgreement:
    """Put a draft agreement in force (it needs at least one planned quantity)."""
    _require_change(actor, agreement)
    agreement = _lock(agreement)
    if agreement.status != AgreementStatus.DRAFT:
        raise ValidationError(ERR_NOT_DRAFT)
    if not FrameworkLine.objects.filter(agreement=agreement).exists():
        raise ValidationError(ERR_NO_PLAN)
    before = snapshot(agreement, FIELDS)
    agreement.status = AgreementStatus.ACTIVE
    agreement.save()
    _audit(actor, agreement, AUDIT_ACTIVATED, before)
    return agreement


@transaction.atomic
def agreement_end(*, actor: Any, agreement: FrameworkAgreement) -> FrameworkAgreement:
    """End an agreement in force; it stays readable (and its plan vs actual) but no longer changes."""
    _require_change(actor, agreement)
    agreement = _lock(agreement)
    if agreement.status != AgreementStatus.ACTIVE:
        raise ValidationError(ERR_NOT_ACTIVE)
    before = snapshot(agreement, FIELDS)
    agreement.status = AgreementStatus.ENDED
    agreement.save()
    _audit(actor, agreement, AUDIT_ENDED, before)
    return agreement
