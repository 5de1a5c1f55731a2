"""Quotes: pricing an opportunity, the discount approval, the credit check, and turning a won quote into a
contract.

**Life of a quote** (``QuoteStatus``)::

    draft ──submit──▶ approved ──send──▶ sent ──accept──▶ accepted (→ orders.Contract, opportunity won)
      ▲      └──────▶ pending ──approved──▲        └──reject──▶ rejected
      └──── rejected / withdrawn ◀─┘      approved / sent past ``valid_until`` ──daily job──▶ expired

A draft is edited (header: :func:`quote_update`; lines: :func:`quote_lines_set`); anything later is changed
by :func:`quote_revise`, which copies it into a new draft with the same number and ``revision`` + 1 and
marks the old row ``superseded``.

**Prices.** Each line has a list price and a discount (%): ``net_price = list_price × (1 − discount/100)``
and ``amount = net_price × quantity``, each rounded half up to the cent; ``list_total`` = Σ list price ×
quantity, ``net_total`` = Σ amount. The quote's ``discount_pct`` is the **largest line discount**: the tier
limit applies to every line (the strategy menu's contract, ``docs/tiering-strategy.md``: "a line discount
above ``max_discount_pct`` needs approval"), so one deep concession hidden among full-price lines still
needs approval. :func:`overall_discount` (1 − net/list) is shown beside it for information only.

**Discount limit.** ``strategy_for(customer, product_line)`` gives ``max_discount_pct`` and the
``approval_chain`` (role codes); they are stored on the quote (``tier``, ``max_discount_pct``) whenever it is
priced (created, lines set, revised) and again when it is submitted. :func:`quote_submit` approves a quote
whose discount is within the limit at once; above it, it raises an approval request of kind
``sales.quote_discount`` whose steps are the chain's roles in order (an empty chain: the kind's route,
by default the rep's manager) and the quote waits (``pending``). Approval → ``approved``; rejection or
withdrawal → back to ``draft``. Only an approved quote is sent.

**Credit check.** Whenever a quote is priced, ``quote.credit`` records the customer's exposure against the
credit limit of ``customer_credit_terms``: ``{"limit", "outstanding", "open_orders", "quote", "exposure",
"over", "checked_at"}`` (amounts as strings, ``limit`` None when the customer has none; exposure =
outstanding receivables + open order value (``orders.selectors.balances_for``) + this quote's net total;
``over`` = exposure > limit). It warns before any order exists; it blocks nothing.

**Accepting** creates the ``orders.Contract`` (number ``C-<year>-<id>`` from the quote's, status signed,
source ``crm``), publishes ``contract.signed`` with the payload the ERP webhook subscription receives from
the inbound contract handler, sets the opportunity's amount to the contract's (by hand, so the forecast's
"won" figure is what was signed) and closes it won (``services.opportunities.opportunity_close``, through
the stage gate; it publishes ``opportunity.won``). A blocked gate undoes everything.

Every write is audited, checks that the actor may change the quote's opportunity (``visible_to(actor,
"change")``: owner, their managers, the deal's team), and tells the opportunity it changed
(``opportunity_touch``: activity clock and risk flags).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from steelyard.catalog.models import Product
from steelyard.core.events import publish
from steelyard.core.models import (
    ApprovalRequest,
    ApprovalStatus,
    AuditAction,
)
from steelyard.core.scopes import CHANGE
from steelyard.core.services.audit import audit_record, diff, snapshot
from steelyard.orders.models import SOURCE_CRM, Contract, ContractStatus
from steelyard.sales.models import (
    Opportunity,
    OpportunityStatus,
    Quote,
    QuoteLine,
    QuoteStatus,
)

CENT = Decimal("0.01")
ZERO = Decimal("0")
HUNDRED = Decimal("100")

KIND_DISCOUNT = "sales.quote_discount"
LANGUAGES = ("zh-hans", "en")
DEFAULT_VALIDITY_DAYS = 30
MAX_LINES = 200
MAX_QUANTITY = Decimal("1000000")
MAX_PRICE = Decimal("100000000000")  # 1e11: anything above is a typo
CONTRACT_PREFIX = "C-"

AUDIT_CREATED = "sales.quote_created"
AUDIT_UPDATED = "sales.quote_updated"
AUDIT_LINES = "sales.quote_lines_set"
AUDIT_SUBMITTED = "sales.quote_submitted"
AUDIT_APPROVED = "sales.quote_approved"
AUDIT_RETURNED = "sales.quote_returned_to_draft"
AUDIT_SENT = "sales.quote_sent"
AUDIT_ACCEPTED = "sales.quote_accepted"
AUDIT_REJECTED = "sales.quote_rejected"
AUDIT_REVISED = "sales.quote_revised"
AUDIT_EXPIRED = "sales.quote_expired"

ERR_FORBIDDEN = _("You may not change quotes of this opportunity.")
ERR_OPPORTUNITY_CLOSED = _("The opportunity is closed: reopen it or start a new one to quote.")
ERR_NOT_DRAFT = _("Only a draft can be changed. Revise the quote to change it.")
ERR_NOT_SUBMITTABLE = _("Only a draft can be submitted.")
ERR_NO_LINES = _("Add at least one line before submitting the quote.")
ERR_ZERO_TOTAL = _("The quote's total is zero: set the prices first.")
ERR_NOT_APPROVED = _("Only an approved quote can be sent.")
ERR_NOT_ACCEPTABLE = _("Only an approved or sent quote can be accepted.")
ERR_NOT_REJECTABLE = _("Only an approved or sent quote can be marked as rejected by the customer.")
ERR_NOT_REVISABLE = _(
    "This quote cannot be revised: only the latest revision that is not a draft, waiting "
    "for approval or accepted can be."
)
ERR_NOT_PENDING = _("This quote is not waiting for approval.")
ERR_NOT_REQUESTER = _("Only the person who asked for the approval can withdraw it.")
ERR_EXPIRED = _("This quote expired on %(date)s: revise it with a new validity date.")
ERR_VALID_PAST = _("The validity date cannot be in the past.")
ERR_LANGUAGE = _("Choose Chinese or English.")
ERR_TERMS = _("Enter the payment terms in days, from 0 to 365.")
ERR_TOO_MANY_LINES = _("A quote can have at most %(max)s lines.")
ERR_LINE_PRODUCT = _("Line %(n)s: unknown product.")
ERR_LINE_EMPTY = _("Line %(n)s: choose a product or describe the item.")
ERR_LINE_QUANTITY = _("Line %(n)s: enter a quantity above 0.")
ERR_LINE_PRICE = _("Line %(n)s: enter a list price of 0 or more.")
ERR_LINE_DISCOUNT = _("Line %(n)s: the discount must be from 0 to 100%%.")
ERR_LINE_NUMBER = _("Line %(n)s: enter a number.")
ERR_CONTRACT_TAKEN = _("A contract numbered %(number)s already exists.")
ERR_SIGNED_FUTURE = _("The signing date cannot be in the future.")

REASON_DEFAULT = _(
    "Discount of %(discount)s%% on quote %(quote)s is above the %(limit)s%% allowed for tier %(tier)s."
)

HEADER_FIELDS = ["valid_until", "language", "payment_terms_days", "delivery_terms", "notes"]
PRICE_FIELDS = ["list_total", "net_total", "discount_pct", "tier", "max_discount_pct"]


# --- pricing ----------------------------------------------------------------------------------------------


def money(value: Decimal) -> Decimal:
    return Decimal(value).quantize(CENT, ROUND_HALF_UP)


def net_price(list_price: Decimal, discount_pct: Decimal) -> Decimal:
    """``list_price × (1 − discount_pct / 100)``, rounded half up to the cent."""
    return money(Decimal(list_price) * (HUNDRED - Decimal(discount_pct)) / HUNDRED)


def overall_discount(list_total: Decimal, net_total: Decimal) -> Decimal:
    """``1 − net / list`` in % with two decimals (0 for an empty quote): shown for information only."""
    if not list_total:
        return ZERO
    return money((Decimal(1) - Decimal(net_total) / Decimal(list_total)) * HUNDRED)


def _priced(quote: Quote) -> None:
    """Totals and the largest line discount from the quote's lines (in the database)."""
    list_total = net_total = largest = ZERO
    for lp, qty, disc, amount in QuoteLine.objects.filter(quote=quote).values_list(
        "list_price", "quantity", "discount_pct", "amount"
    ):
        list_total += money(lp * qty)
        net_total += amount
        largest = max(largest, disc)
    quote.list_total, quote.net_total, quote.discount_pct = list_total, net_total, largest


def _strategy(quote: Quote) -> Any:
    from steelyard.tiering.selectors.strategy import strategy_for

    return strategy_for(quote.customer, quote.opportunity.product_line_id)


def _snapshot_strategy(quote: Quote) -> Any:
    """Store the tier and its discount limit on the quote; returns the ``Strategy`` read."""
    s = _strategy(quote)
    quote.tier, quote.max_discount_pct = s.tier, s.max_discount_pct
    return s


def needs_approval(quote: Quote) -> bool:
    """Whether the quote's largest line discount is above the limit stored on it."""
    return Decimal(quote.discount_pct or 0) > Decimal(quote.max_discount_pct or 0)


# --- credit ----------------------------------------------------------------------------------------------


def credit_check(customer: Any, amount: Decimal, *, today: dt.date | None = None) -> dict[str, Any]:
    """The customer's credit exposure with a new quote of ``amount`` against the credit limit.

    Exposure = outstanding receivables + open order value + ``amount``; ``over`` only when there is a limit
    and the exposure is above it. Amounts as strings (JSON), ``limit`` None when the customer has no limit.
    """
    from steelyard.orders.selectors import Balances, balances_for
    from steelyard.tiering.selectors.strategy import customer_credit_terms

    terms = customer_credit_terms(customer)
    b = balances_for([customer.pk], today=today).get(customer.pk, Balances())
    exposure = money(b.outstanding + b.open_order_value + Decimal(amount))
    limit = terms.credit_limit
    return {
        "limit": str(money(limit)) if limit is not None else None,
        "outstanding": str(b.outstanding),
        "open_orders": str(b.open_order_value),
        "quote": str(money(amount)),
        "exposure": str(exposure),
        "over": bool(limit is not None and exposure > limit),
        "checked_at": timezone.now().isoformat(timespec="seconds"),
    }


def _reprice(quote: Quote) -> None:
    """Totals, the strategy snapshot and the credit check, after the lines changed (not saved)."""
    _priced(quote)
    _snapshot_strategy(quote)
    quote.credit = credit_check(quote.customer, quote.net_total)


# --- lines -----------------------------------------------------------------------------------------------


def _decimal(value: Any, n: int, field: str, errors: dict[str, list[Any]]) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        d = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        errors.setdefault(field, []).append(ValidationError(ERR_LINE_NUMBER, params={"n": n}))
        return None
    if not d.is_finite():
        errors.setdefault(field, []).append(ValidationError(ERR_LINE_NUMBER, params={"n": n}))
        return None
    return d


def lines_clean(lines: Iterable[Mapping[str, Any]], *, first: int = 0) -> list[dict[str, Any]]:
    """Check quote lines given as dicts (``product`` (a Product, its id or None), ``description``,
    ``quantity``, ``unit``, ``list_price``, ``discount_pct``) and price them.

    Raises ``ValidationError`` with one entry per bad field, keyed ``lines.<index>.<field>`` (index from
    ``first``; messages number lines from ``first`` + 1). A line without a list price takes its product's.
    """
    lines = list(lines)
    if len(lines) > MAX_LINES:
        raise ValidationError({"lines": ValidationError(ERR_TOO_MANY_LINES, params={"max": MAX_LINES})})
    ids = set()
    for line in lines:
        p = line.get("product")
        if p not in (None, "") and not isinstance(p, Product):
            try:
                ids.add(int(p))
            except (TypeError, ValueError):
                pass
    products = {p.pk: p for p in Product.objects.filter(pk__in=ids)} if ids else {}
    errors: dict[str, list[Any]] = {}
    out: list[dict[str, Any]] = []
    for i, line in enumerate(lines, start=first):
        n = i + 1
        key = f"lines.{i}"
        raw = line.get("product")
        product: Product | None = None
        if isinstance(raw, Product):
            product = raw
        elif raw not in (None, ""):
            try:
                product = products.get(int(raw))
            except (TypeError, ValueError):
                product = None
            if product is None:
                errors.setdefault(f"{key}.product", []).append(
                    ValidationError(ERR_LINE_PRODUCT, params={"n": n})
                )
                continue
        description = str(line.get("description") or "").strip()[:200]
        if product is None and not description:
            errors.setdefault(f"{key}.description", []).append(
                ValidationError(ERR_LINE_EMPTY, params={"n": n})
            )
        quantity = _decimal(line.get("quantity", 1), n, f"{key}.quantity", errors)
        if quantity is None or quantity <= 0 or quantity > MAX_QUANTITY:
            if f"{key}.quantity" not in errors:
                errors.setdefault(f"{key}.quantity", []).append(
                    ValidationError(ERR_LINE_QUANTITY, params={"n": n})
                )
        list_price = _decimal(line.get("list_price"), n, f"{key}.list_price", errors)
        if list_price is None and f"{key}.list_price" not in errors:
            list_price = product.list_price if product is not None else None
        if list_price is None or list_price < 0 or list_price > MAX_PRICE:
            if f"{key}.list_price" not in errors:
                errors.setdefault(f"{key}.list_price", []).append(
                    ValidationError(ERR_LINE_PRICE, params={"n": n})
                )
        discount = _decimal(line.get("discount_pct"), n, f"{key}.discount_pct", errors)
        discount = ZERO if discount is None and f"{key}.discount_pct" not in errors else discount
        if discount is None or discount < 0 or discount > HUNDRED:
            if f"{key}.discount_pct" not in errors:
                errors.setdefault(f"{key}.discount_pct", []).append(
                    ValidationError(ERR_LINE_DISCOUNT, params={"n": n})
                )
        if any(k.startswith(f"{key}.") for k in errors):
            continue
        assert quantity is not None and list_price is not None and discount is not None
        list_price, discount = money(list_price), money(discount)
        quantity = quantity.quantize(CENT, ROUND_HALF_UP)
        net = net_price(list_price, discount)
        out.append(
            {
                "product": product,
                "description": description or (product.name if product else ""),
                "quantity": quantity,
                "unit": str(line.get("unit") or (product.unit if product else "") or "")[:10],
                "list_price": list_price,
                "discount_pct": discount,
                "net_price": net,
                "amount": money(net * quantity),
                "order": n,
            }
        )
    if errors:
        raise ValidationError(errors)
    return out


def opportunity_lines_for_quote(opportunity: Opportunity) -> list[dict[str, Any]]:
    """The opportunity's solution lines as quote lines: list price = the product's list price, else the
    line's unit price; no discount."""
    out = []
    for line in opportunity.lines.select_related("product").order_by("order", "id"):
        product = line.product
        list_price = product.list_price if product is not None and product.list_price else line.unit_price
        out.append(
            {
                "product": product,
                "description": line.description or (product.name if product else ""),
                "quantity": line.quantity,
                "unit": product.unit if product else "",
                "list_price": list_price,
                "discount_pct": ZERO,
            }
        )
    return out


def _write_lines(quote: Quote, lines: list[dict[str, Any]]) -> None:
    QuoteLine.objects.filter(quote=quote).delete()
    QuoteLine.objects.bulk_create([QuoteLine(quote=quote, **line) for line in lines])


# --- helpers ---------------------------------------------------------------------------------------------


def can_change(user: Any, quote: Quote) -> bool:
    """Whether ``user`` may change ``quote`` (the owner of its opportunity, their managers, the team)."""
    return Quote.objects.visible_to(user, CHANGE).filter(pk=quote.pk).exists()


def _require_change(actor: Any, quote: Quote) -> None:
    if actor is not None and not can_change(actor, quote):
        raise PermissionDenied(ERR_FORBIDDEN)


def _require_open(opportunity: Opportunity) -> None:
    if opportunity.status != OpportunityStatus.OPEN:
        raise ValidationError(ERR_OPPORTUNITY_CLOSED)


def _lock(quote: Quote) -> Quote:
    return (
        Quote.objects.select_for_update(of=("self",))
        .select_related("opportunity", "customer")
        .get(pk=quote.pk)
    )


def _touch(quote: Quote, actor: Any, *, activity: bool = True) -> None:
    """Tell the opportunity its quotes changed: the activity clock moves (unless ``activity`` is False, for
    the expiry job) and its risk flags (discount above the limit, credit) are recomputed."""
    from steelyard.sales.services.opportunities import opportunity_touch
    from steelyard.sales.services.risks import risks_refresh

    if activity:
        opportunity_touch(quote.opportunity)
    risks_refresh(ids=[quote.opportunity_id])


def _audit(actor: Any, quote: Quote, verb: str, before: dict[str, Any] | None = None, **extra: Any) -> None:
    fields = ["status", *HEADER_FIELDS, *PRICE_FIELDS]
    after = snapshot(quote, fields)
    audit_record(
        actor=actor,
        action=AuditAction.CREATE if before is None else AuditAction.UPDATE,
        obj=quote,
        verb=verb,
        changes=diff(before or {}, after),
        extra=extra or None,
    )


def _header_clean(*, valid_until: Any, language: Any, payment_terms_days: Any, today: dt.date) -> None:
    errors: dict[str, Any] = {}
    if valid_until is not None and valid_until < today:
        errors["valid_until"] = ERR_VALID_PAST
    if language is not None and language not in LANGUAGES:
        errors["language"] = ERR_LANGUAGE
    if payment_terms_days is not None:
        try:
            ok = 0 <= int(payment_terms_days) <= 365
        except (TypeError, ValueError):
            ok = False
        if not ok:
            errors["payment_terms_days"] = ERR_TERMS
    if errors:
        raise ValidationError(errors)


def quote_number(quote: Quote) -> str:
    """``Q-<year>-<id:06d>``: the year the quote was first made (local time)."""
    year = timezone.localtime(quote.created_at).year if quote.created_at else timezone.localdate().year
    return f"Q-{year}-{quote.pk:06d}"


# --- create and edit -------------------------------------------------------------------------------------


@transaction.atomic
def quote_create(
    *,
    actor: Any,
    opportunity: Opportunity,
    lines: Iterable[Mapping[str, Any]] | None = None,
    valid_until: dt.date | None = None,
    language: str = "zh-hans",
    payment_terms_days: int | None = None,
    delivery_terms: str = "",
    notes: str = "",
) -> Quote:
    """A new draft quote on ``opportunity`` (lines default to its solution lines), priced, with the
    strategy snapshot and the credit check."""
    from steelyard.tiering.selectors.strategy import customer_credit_terms

    if (
        actor is not None
        and not Opportunity.objects.visible_to(actor, CHANGE).filter(pk=opportunity.pk).exists()
    ):
        raise PermissionDenied(ERR_FORBIDDEN)
    _require_open(opportunity)
    today = timezone.localdate()
    _header_clean(
        valid_until=valid_until, language=language, payment_terms_days=payment_terms_days, today=today
    )
    clean = lines_clean(opportunity_lines_for_quote(opportunity) if lines is None else lines)
    customer = opportunity.customer
    if payment_terms_days is None:
        payment_terms_days = customer_credit_terms(customer).payment_terms_days
    quote = Quote(
        number="",
        revision=1,
        opportunity=opportunity,
        customer=customer,
        language=language,
        currency=opportunity.currency,
        valid_until=valid_until or today + dt.timedelta(days=DEFAULT_VALIDITY_DAYS),
        payment_terms_days=int(payment_terms_days),
        delivery_terms=(delivery_terms or "").strip()[:200],
        notes=(notes or "").strip(),
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    quote.save()
    quote.number = quote_number(quote)
    _write_lines(quote, clean)
    _reprice(quote)
    quote.save()
    _audit(actor, quote, AUDIT_CREATED, lines=len(clean))
    _touch(quote, actor)
    return quote


@transaction.atomic
def quote_update(
    *,
    actor: Any,
    quote: Quote,
    valid_until: dt.date | None = None,
    language: str | None = None,
    payment_terms_days: int | None = None,
    delivery_terms: str | None = None,
    notes: str | None = None,
) -> Quote:
    """Change a draft's header (fields left None keep their value)."""
    _require_change(actor, quote)
    quote = _lock(quote)
    if quote.status != QuoteStatus.DRAFT:
        raise ValidationError(ERR_NOT_DRAFT)
    _header_clean(
        valid_until=valid_until,
        language=language,
        payment_terms_days=payment_terms_days,
        today=timezone.localdate(),
    )
    before = snapshot(quote, ["status", *HEADER_FIELDS, *PRICE_FIELDS])
    if valid_until is not None:
        quote.valid_until = valid_until
    if language is not None:
        quote.language = language
    if payment_terms_days is not None:
        quote.payment_terms_days = int(payment_terms_days)
    if delivery_terms is not None:
        quote.delivery_terms = delivery_terms.strip()[:200]
    if notes is not None:
        quote.notes = notes.strip()
    quote.save()
    if diff(before, snapshot(quote, before.keys())):
        _audit(actor, quote, AUDIT_UPDATED, before)
        _touch(quote, actor)
    return quote


@transaction.atomic
def quote_lines_set(*, actor: Any, quote: Quote, lines: Iterable[Mapping[str, Any]]) -> Quote:
    """Replace a draft's lines; reprices it (totals, tier limit) and redoes the credit check."""
    _require_change(actor, quote)
    quote = _lock(quote)
    if quote.status != QuoteStatus.DRAFT:
        raise ValidationError(ERR_NOT_DRAFT)
    clean = lines_clean(lines)
    before = snapshot(quote, ["status", *HEADER_FIELDS, *PRICE_FIELDS])
    _write_lines(quote, clean)
    _reprice(quote)
    quote.save()
    _audit(actor, quote, AUDIT_LINES, before, lines=len(clean), credit=quote.credit)
    _touch(quote, actor)
    return quote


# --- approval --------------------------------------------------------------------------------------------


def approval_steps_for(chain: Iterable[str]) -> list[dict[str, Any]]:
    """The approval steps of a menu's approval chain: one role step per code, in order; [] when empty."""
    return [{"type": "role", "role": str(code)} for code in chain if code]


def _discount_request_create(
    *, actor: Any, quote: Quote, steps: list[dict[str, Any]], requested_change: dict[str, Any], reason: str
) -> ApprovalRequest:
    """Raise the ``sales.quote_discount`` request routed along the menu's own steps (a quote's approvers
    depend on its customer's tier); empty ``steps``: the kind's own route."""
    from steelyard.core.services.approvals import approval_kind_get, approval_request_create

    entry = approval_kind_get(KIND_DISCOUNT)
    assert entry is not None, "the sales.quote_discount approval kind is registered at start-up"
    return approval_request_create(
        actor=actor,
        subject=quote,
        kind=KIND_DISCOUNT,
        requested_change=requested_change,
        reason=reason,
        title=f"{entry.label}: {quote} {quote.customer.legal_name}"[:200],
        steps=steps,
    )


@transaction.atomic
def quote_submit(*, actor: Any, quote: Quote, reason: str = "") -> Quote:
    """Submit a draft: within the tier's discount limit it is approved at once; above it, an approval
    request along the menu's approval chain is raised and the quote waits (``pending``)."""
    _require_change(actor, quote)
    quote = _lock(quote)
    if quote.status != QuoteStatus.DRAFT:
        raise ValidationError(ERR_NOT_SUBMITTABLE)
    _require_open(quote.opportunity)
    if not quote.lines.exists():
        raise ValidationError(ERR_NO_LINES)
    if quote.valid_until < timezone.localdate():
        raise ValidationError({"valid_until": ERR_VALID_PAST})
    before = snapshot(quote, ["status", *HEADER_FIELDS, *PRICE_FIELDS])
    _priced(quote)
    if quote.net_total <= 0:
        raise ValidationError(ERR_ZERO_TOTAL)
    strategy = _snapshot_strategy(quote)
    if not needs_approval(quote):
        quote.status = QuoteStatus.APPROVED
        quote.save()
        _audit(actor, quote, AUDIT_SUBMITTED, before, approval=False)
        _touch(quote, actor)
        return quote
    reason = (reason or "").strip() or str(
        REASON_DEFAULT
        % {
            "discount": quote.discount_pct,
            "quote": str(quote),
            "limit": quote.max_discount_pct,
            "tier": quote.tier or "—",
        }
    )
    request = _discount_request_create(
        actor=actor,
        quote=quote,
        steps=approval_steps_for(strategy.approval_chain),
        requested_change={
            "quote": str(quote),
            "customer": quote.customer.legal_name,
            "discount_pct": str(quote.discount_pct),
            "max_discount_pct": str(quote.max_discount_pct),
            "tier": quote.tier,
            "net_total": str(quote.net_total),
            "list_total": str(quote.list_total),
            "currency": quote.currency,
            "approval_chain": list(strategy.approval_chain),
        },
        reason=reason,
    )
    quote.status, quote.approval = QuoteStatus.PENDING, request
    quote.save()
    _audit(actor, quote, AUDIT_SUBMITTED, before, approval=request.pk)
    _touch(quote, actor)
    return quote


def _quote_of(request: ApprovalRequest) -> Quote | None:
    return (
        Quote.objects.select_for_update(of=("self",))
        .select_related("opportunity", "customer")
        .filter(pk=request.object_id)
        .first()
    )


def quote_discount_approved(request: ApprovalRequest, actor: Any) -> None:
    """The ``sales.quote_discount`` kind's ``on_approved`` hook (inside the deciding transaction)."""
    quote = _quote_of(request)
    if quote is None or quote.status != QuoteStatus.PENDING or quote.approval_id != request.pk:
        return
    before = snapshot(quote, ["status", *HEADER_FIELDS, *PRICE_FIELDS])
    quote.status = QuoteStatus.APPROVED
    quote.save()
    _audit(actor, quote, AUDIT_APPROVED, before, approval=request.pk)
    _touch(quote, actor)


def quote_discount_rejected(request: ApprovalRequest, actor: Any) -> None:
    """The kind's ``on_rejected`` hook, and what a withdrawn request does: the quote is a draft again."""
    quote = _quote_of(request)
    if quote is None or quote.status != QuoteStatus.PENDING or quote.approval_id != request.pk:
        return
    before = snapshot(quote, ["status", *HEADER_FIELDS, *PRICE_FIELDS])
    quote.status = QuoteStatus.DRAFT
    quote.save()
    _audit(actor, quote, AUDIT_RETURNED, before, approval=request.pk, outcome=request.status)
    _touch(quote, actor)


def on_approval_decided(event: Any) -> None:
    """Subscriber of ``approval.decided``: a withdrawn discount request puts its quote back to draft."""
    payload = event.payload or {}
    if payload.get("kind") != KIND_DISCOUNT or payload.get("status") != ApprovalStatus.CANCELLED:
        return
    request = ApprovalRequest.objects.filter(pk=payload.get("id")).first()
    if request is not None:
        quote_discount_rejected(request, event.actor)


@transaction.atomic
def quote_withdraw(*, actor: Any, quote: Quote) -> Quote:
    """The requester withdraws the pending discount request; the quote is a draft again."""
    from steelyard.core.services.approvals import approval_cancel

    _require_change(actor, quote)
    quote = _lock(quote)
    if quote.status != QuoteStatus.PENDING or quote.approval is None:
        raise ValidationError(ERR_NOT_PENDING)
    if quote.approval.requester_id != getattr(actor, "pk", None):
        raise PermissionDenied(ERR_NOT_REQUESTER)
    approval_cancel(actor=actor, request=quote.approval)  # the subscriber returns the quote to draft
    quote.refresh_from_db()
    return quote


# --- send, accept, reject, revise, expire ------------------------------------------------------------------


@transaction.atomic
def quote_send(*, actor: Any, quote: Quote) -> Quote:
    """Mark an approved quote as sent to the customer."""
    _require_change(actor, quote)
    quote = _lock(quote)
    if quote.status != QuoteStatus.APPROVED:
        raise ValidationError(ERR_NOT_APPROVED)
    _require_open(quote.opportunity)
    if quote.valid_until < timezone.localdate():
        raise ValidationError(ERR_EXPIRED, params={"date": quote.valid_until.isoformat()})
    before = snapshot(quote, ["status", *HEADER_FIELDS, *PRICE_FIELDS])
    quote.status, quote.sent_at = QuoteStatus.SENT, timezone.now()
    quote.save()
    _audit(actor, quote, AUDIT_SENT, before)
    _touch(quote, actor)
    return quote


def contract_number_for(quote: Quote) -> str:
    """The contract's number from the quote's: ``Q-2025-000012`` → ``C-2025-000012``."""
    return CONTRACT_PREFIX + quote.number.removeprefix("Q-")


def contract_signed_payload(contract: Contract) -> dict[str, Any]:
    """What ``contract.signed`` carries: the shape the inbound contract handler publishes."""
    return {
        "contract": contract.number,
        "contract_id": contract.pk,
        "customer_id": contract.customer_id,
        "status": contract.status,
        "signed_on": contract.signed_on.isoformat() if contract.signed_on else None,
        "amount": str(contract.amount),
        "currency": contract.currency,
        "source": contract.source,
    }


@transaction.atomic
def quote_accept(
    *, actor: Any, quote: Quote, signed_on: dt.date | None = None, reason: str = "", note: str = ""
) -> Quote:
    """The customer accepted: the quote becomes a signed ``orders.Contract`` (``contract.signed`` goes to the
    ERP's webhook subscription) and the opportunity is closed won (``reason``: a ``CloseReason``)."""
    from steelyard.sales.services.opportunities import opportunity_close, opportunity_update

    _require_change(actor, quote)
    quote = _lock(quote)
    if quote.status not in (QuoteStatus.APPROVED, QuoteStatus.SENT):
        raise ValidationError(ERR_NOT_ACCEPTABLE)
    opportunity = quote.opportunity
    _require_open(opportunity)
    today = timezone.localdate()
    signed_on = signed_on or today
    if signed_on > today:
        raise ValidationError({"signed_on": ERR_SIGNED_FUTURE})
    if quote.valid_until < signed_on:
        raise ValidationError(ERR_EXPIRED, params={"date": quote.valid_until.isoformat()})
    number = contract_number_for(quote)
    if Contract.objects.filter(number=number).exists():
        raise ValidationError(ERR_CONTRACT_TAKEN, params={"number": number})
    contract = Contract.objects.create(
        number=number,
        customer=quote.customer,
        title=opportunity.name[:200],
        status=ContractStatus.SIGNED,
        signed_on=signed_on,
        amount=quote.net_total,
        currency=quote.currency,
        signed_by=actor if getattr(actor, "pk", None) else None,
        source=SOURCE_CRM,
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=contract,
        verb="orders.contract_created",
        changes=diff({}, snapshot(contract, ["number", "status", "signed_on", "amount", "currency"])),
        extra={"quote": str(quote)},
    )
    before = snapshot(quote, ["status", *HEADER_FIELDS, *PRICE_FIELDS])
    quote.status, quote.decided_at, quote.contract = QuoteStatus.ACCEPTED, timezone.now(), contract
    quote.save()
    _audit(actor, quote, AUDIT_ACCEPTED, before, contract=contract.number)
    publish("contract.signed", payload=contract_signed_payload(contract), subject=contract, actor=actor)
    if opportunity.amount != quote.net_total:
        # The deal is won at the contract's amount: the forecast's "won" figure is what was signed.
        opportunity_update(actor=actor, opportunity=opportunity, amount=quote.net_total)
    opportunity_close(
        actor=actor, opportunity=opportunity, outcome="won", reason=reason, note=note, closed_on=signed_on
    )
    return quote


@transaction.atomic
def quote_reject(*, actor: Any, quote: Quote, reason: str = "") -> Quote:
    """The customer turned the quote down (the opportunity stays open: revise, or close it lost)."""
    _require_change(actor, quote)
    quote = _lock(quote)
    if quote.status not in (QuoteStatus.APPROVED, QuoteStatus.SENT):
        raise ValidationError(ERR_NOT_REJECTABLE)
    before = snapshot(quote, ["status", *HEADER_FIELDS, *PRICE_FIELDS])
    quote.status, quote.decided_at = QuoteStatus.REJECTED, timezone.now()
    quote.save()
    _audit(actor, quote, AUDIT_REJECTED, before, reason=(reason or "").strip()[:500])
    _touch(quote, actor)
    return quote


REVISABLE = (QuoteStatus.APPROVED, QuoteStatus.SENT, QuoteStatus.REJECTED, QuoteStatus.EXPIRED)


def is_latest(quote: Quote) -> bool:
    return not Quote.objects.filter(number=quote.number, revision__gt=quote.revision).exists()


@transaction.atomic
def quote_revise(*, actor: Any, quote: Quote, valid_until: dt.date | None = None) -> Quote:
    """A new draft revision (same number, ``revision`` + 1) copying the quote's header and lines, repriced
    against today's strategy and credit; the old revision is superseded."""
    _require_change(actor, quote)
    old = _lock(quote)
    if old.status not in REVISABLE or not is_latest(old):
        raise ValidationError(ERR_NOT_REVISABLE)
    _require_open(old.opportunity)
    today = timezone.localdate()
    _header_clean(valid_until=valid_until, language=None, payment_terms_days=None, today=today)
    revision = (Quote.objects.filter(number=old.number).aggregate(m=Max("revision"))["m"] or 0) + 1
    validity = valid_until or max(old.valid_until, today + dt.timedelta(days=DEFAULT_VALIDITY_DAYS))
    new = Quote.objects.create(
        number=old.number,
        revision=revision,
        opportunity=old.opportunity,
        customer=old.customer,
        language=old.language,
        currency=old.currency,
        valid_until=validity,
        payment_terms_days=old.payment_terms_days,
        delivery_terms=old.delivery_terms,
        notes=old.notes,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    QuoteLine.objects.bulk_create(
        [
            QuoteLine(
                quote=new,
                product_id=ln.product_id,
                description=ln.description,
                quantity=ln.quantity,
                unit=ln.unit,
                list_price=ln.list_price,
                discount_pct=ln.discount_pct,
                net_price=ln.net_price,
                amount=ln.amount,
                order=ln.order,
            )
            for ln in old.lines.order_by("order", "id")
        ]
    )
    _reprice(new)
    new.save()
    before = snapshot(old, ["status", *HEADER_FIELDS, *PRICE_FIELDS])
    old.status = QuoteStatus.SUPERSEDED
    old.save()
    _audit(actor, old, AUDIT_REVISED, before, revised_to=new.pk)
    _audit(actor, new, AUDIT_CREATED, revision_of=old.pk)
    _touch(new, actor)
    return new


def quotes_expire(*, today: dt.date | None = None, actor: Any = None) -> dict[str, int]:
    """Mark approved and sent quotes past their validity date expired (the daily job); returns counts."""
    today = today or timezone.localdate()
    expired = 0
    ids = list(
        Quote.objects.filter(
            status__in=(QuoteStatus.APPROVED, QuoteStatus.SENT), valid_until__lt=today
        ).values_list("pk", flat=True)
    )
    for pk in ids:
        with transaction.atomic():
            quote = (
                Quote.objects.select_for_update(of=("self",))
                .select_related("opportunity")
                .filter(pk=pk, status__in=(QuoteStatus.APPROVED, QuoteStatus.SENT), valid_until__lt=today)
                .first()
            )
            if quote is None:
                continue
            before = snapshot(quote, ["status", *HEADER_FIELDS, *PRICE_FIELDS])
            quote.status = QuoteStatus.EXPIRED
            quote.save()
            _audit(actor, quote, AUDIT_EXPIRED, before)
            _touch(quote, actor, activity=False)
            expired += 1
    return {"expired": expired}
