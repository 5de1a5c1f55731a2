"""The strategy menu (定策略) as modules read it: ``strategy_for`` for one customer, ``menu_in_force`` in bulk.

``strategy_for`` is the ONLY way modules read the menu (see ``docs/tiering-strategy.md`` for who reads
which field)::

    s = strategy_for(customer, product_line=None, *, on=None)
    s.max_discount_pct, s.approval_chain          # quotes: discount without approval, the chain above it
    s.delivery_priority                           # delivery promise: 1 is served first
    s.response_hours, s.resolution_hours          # service SLAs
    s.visit_every_days, s.visitor_seniority, s.escalate_after_days   # visit plans
    s.pool_recycle_days                           # the public pool's "no visit" days for the tier
    customer_credit_terms(customer)               # finance: (credit_limit, payment_terms_days, source)

**Which menu.** The version in force on ``on`` (default: today, local time): not a draft, with
``effective_from <= on`` and ``effective_to`` empty or ``>= on``; when versions overlap (they should
not: activation closes the previous one) the latest start, then the highest version, wins. A version
activated for a future date is therefore not used before that date, and a past date reads the
version that was in force then (retired versions keep their dates). A version retired before it
ever came into force has ``effective_to < effective_from`` and is never in force.

**Which tier.** With a product line, the customer's tier under that line's *active* tier model
(``CustomerTier``; an override in force — ``override_tier`` with ``override_until`` empty or not
past — wins); without a line, or when the customer has no tier under the line's model yet,
``Customer.tier`` (the global model's tier). Untiered is ``""``.

**Which rule.** (tier, line) → (tier, no line) → (untiered, line) → (untiered, no line) → the built-in
defaults (``DEFAULTS``, the model's field defaults). A rule answers with all of its fields: a field
left empty in the matching rule (e.g. no pool days) means "the menu does not set it", not "look
further down the chain". ``Strategy.source`` says which rule answered.

**Cost.** ``strategy_for`` makes one query (the menu in force with its rules, one LEFT JOIN), two
with a product line (plus the customer's tier under the line's model); it writes nothing. For
loops and sweeps read the menu once with ``menu_in_force(on)`` and pass it as ``menu=``, or wrap the
block in ``with strategy_cache():`` (memoises ``menu_in_force`` per date inside the block).
There is deliberately no cross-request memo: a menu activated in one process must be seen by every
other at once, and a memo that outlives a rolled-back transaction (tests, failed requests) would
serve a menu that no longer exists.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from django.db.models import F, Q, QuerySet
from django.utils import timezone, translation

from steelyard.tiering.models import (
    CustomerTier,
    MenuStatus,
    Seniority,
    StrategyMenu,
    StrategyRule,
    Tier,
)

#: The fields of a rule that ``Strategy`` carries, in display order.
RULE_FIELDS: tuple[str, ...] = (
    "max_discount_pct",
    "approval_chain",
    "payment_terms_days",
    "credit_limit",
    "delivery_priority",
    "visit_every_days",
    "visitor_seniority",
    "escalate_after_days",
    "response_hours",
    "resolution_hours",
    "pool_recycle_days",
    "entitlements",
)

#: What a customer gets when no rule of the menu in force applies (or no menu is in force).
DEFAULTS: dict[str, Any] = {
    "max_discount_pct": Decimal("0"),
    "approval_chain": (),
    "payment_terms_days": 30,
    "credit_limit": None,
    "delivery_priority": 5,
    "visit_every_days": None,
    "visitor_seniority": Seniority.REP.value,
    "escalate_after_days": None,
    "response_hours": None,
    "resolution_hours": None,
    "pool_recycle_days": None,
    "entitlements": (),
}

# Which rule answered (``Strategy.source``).
SOURCE_TIER_LINE = "tier_line"
SOURCE_TIER = "tier"
SOURCE_UNTIERED_LINE = "untiered_line"
SOURCE_UNTIERED = "untiered"
SOURCE_DEFAULT = "default"


@dataclass(frozen=True)
class Strategy:
    """What one customer's tier (for one product line) is entitled to under the menu in force."""

    tier: str
    product_line_id: int | None
    menu_version: int | None
    max_discount_pct: Decimal
    approval_chain: tuple[str, ...]
    payment_terms_days: int
    credit_limit: Decimal | None
    delivery_priority: int
    visit_every_days: int | None
    visitor_seniority: str
    escalate_after_days: int | None
    response_hours: int | None
    resolution_hours: int | None
    pool_recycle_days: int | None
    entitlements: tuple[str, ...]
    #: which rule answered: ``tier_line``, ``tier``, ``untiered_line``, ``untiered`` or ``default``
    source: str = SOURCE_DEFAULT


def _normalise(values: Mapping[str, Any]) -> dict[str, Any]:
    out = {name: values.get(name, DEFAULTS[name]) for name in RULE_FIELDS}
    out["approval_chain"] = tuple(str(r) for r in (out["approval_chain"] or ()))
    out["entitlements"] = tuple(str(e) for e in (out["entitlements"] or ()))
    if out["max_discount_pct"] is None:
        out["max_discount_pct"] = DEFAULTS["max_discount_pct"]
    return out


@dataclass(frozen=True)
class MenuInForce:
    """The menu version in force on ``on`` with its rules, read once; answers without queries.

    ``rules[(tier, product_line_id)]`` holds each rule's values. ``menu_id`` is None when no version
    is in force (every lookup then answers the built-in defaults).
    """

    on: dt.date
    menu_id: int | None = None
    version: int | None = None
    name: str = ""
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None
    rules: Mapping[tuple[str, int | None], Mapping[str, Any]] = field(default_factory=dict)

    def rule_for(self, tier: str, product_line_id: int | None = None) -> tuple[str, Mapping[str, Any] | None]:
        """``(source, values)`` of the rule that answers for ``tier`` (and the line); values None: defaults."""
        tier = tier or ""
        chain: list[tuple[str, tuple[str, int | None]]] = []
        if product_line_id is not None:
            chain.append((SOURCE_TIER_LINE if tier else SOURCE_UNTIERED_LINE, (tier, product_line_id)))
        chain.append((SOURCE_TIER if tier else SOURCE_UNTIERED, (tier, None)))
        if tier:
            if product_line_id is not None:
                chain.append((SOURCE_UNTIERED_LINE, ("", product_line_id)))
            chain.append((SOURCE_UNTIERED, ("", None)))
        for source, key in chain:
            values = self.rules.get(key)
            if values is not None:
                return source, values
        return SOURCE_DEFAULT, None

    def strategy(self, tier: str, product_line_id: int | None = None) -> Strategy:
        """The strategy of ``tier`` (for ``product_line_id``) under this menu."""
        source, values = self.rule_for(tier, product_line_id)
        return Strategy(
            tier=tier or "",
            product_line_id=product_line_id,
            menu_version=self.version,
            source=source,
            **_normalise(values or {}),
        )

    def tier_values(self, name: str) -> tuple[dict[str, Any], Any]:
        """``({tier: value}, value for any other tier)`` of rule field ``name`` without a product line.

        The bulk form of ``strategy(tier).<name>`` for SQL expressions (a ``CASE`` over the tiers the
        menu names): tiers with their own rule, and what every other tier gets (the untiered rule's
        value, else the built-in default).
        """
        explicit = {
            tier: _normalise(values)[name] for (tier, line), values in self.rules.items() if line is None
        }
        return explicit, getattr(self.strategy("", None), name)

    def pool_recycle_days(self, tier: str) -> int | None:
        """The menu's "no visit" days before a customer of ``tier`` returns to the pool (None: not set)."""
        return self.strategy(tier, None).pool_recycle_days


_memo: contextvars.ContextVar[dict[dt.date, MenuInForce] | None] = contextvars.ContextVar(
    "steelyard_strategy_memo", default=None
)


@contextlib.contextmanager
def strategy_cache() -> Iterator[None]:
    """Memoise ``menu_in_force`` per date inside the block (a sweep, a list, one request's work)."""
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def in_force_q(on: dt.date, prefix: str = "") -> Q:
    """Menus in force on ``on`` (not drafts; ``effective_from <= on <= effective_to``, open-ended)."""
    p = prefix
    return (
        ~Q(**{f"{p}status": MenuStatus.DRAFT})
        & Q(**{f"{p}effective_from__lte": on})
        & (Q(**{f"{p}effective_to__isnull": True}) | Q(**{f"{p}effective_to__gte": on}))
    )


def menu_in_force(on: dt.date | None = None) -> MenuInForce:
    """The menu version in force on ``on`` (today) with all its rules, in one query."""
    on = on or timezone.localdate()
    memo = _memo.get()
    if memo is not None and on in memo:
        return memo[on]
    columns = ("id", "version", "name", "effective_from", "effective_to", "rules__id")
    rule_columns = ("rules__tier", "rules__product_line_id", *(f"rules__{f}" for f in RULE_FIELDS))
    rows = list(
        StrategyMenu.objects.filter(in_force_q(on))
        .order_by("-effective_from", "-version", "rules__id")
        .values_list(*columns, *rule_columns)
    )
    result = MenuInForce(on=on)
    if rows:
        menu_id, version, name, start, end = rows[0][:5]
        rules: dict[tuple[str, int | None], dict[str, Any]] = {}
        for row in rows:
            if row[0] != menu_id or row[5] is None:
                continue
            tier, line_id = row[6] or "", row[7]
            rules[(tier, line_id)] = dict(zip(RULE_FIELDS, row[8:], strict=True))
        result = MenuInForce(on, menu_id, version, name, start, end, rules)
    if memo is not None:
        memo[on] = result
    return result


def menu_snapshot(menu: StrategyMenu | int | None, *, on: dt.date | None = None) -> MenuInForce:
    """One given version (any status, whatever its dates) read like ``menu_in_force``: for previews
    and comparisons ("what would change"). None gives the empty menu (built-in defaults)."""
    on = on or timezone.localdate()
    if menu is None:
        return MenuInForce(on=on)
    if not isinstance(menu, StrategyMenu):
        found = StrategyMenu.objects.filter(pk=menu).first()
        if found is None:
            return MenuInForce(on=on)
        menu = found
    rules = {
        (row[0] or "", row[1]): dict(zip(RULE_FIELDS, row[2:], strict=True))
        for row in StrategyRule.objects.filter(menu=menu)
        .order_by("pk")
        .values_list("tier", "product_line_id", *RULE_FIELDS)
    }
    return MenuInForce(on, menu.pk, menu.version, menu.name, menu.effective_from, menu.effective_to, rules)


def _line_id(product_line: Any) -> int | None:
    if product_line is None or product_line == "":
        return None
    return int(getattr(product_line, "pk", product_line))


def effective_line_tier(tier: str, override_tier: str, override_until: dt.date | None, on: dt.date) -> str:
    """A ``CustomerTier``'s tier on ``on``: an override in force wins."""
    if override_tier and (override_until is None or override_until >= on):
        return override_tier
    return tier


def customer_line_tier(customer: Any, product_line: Any, *, on: dt.date | None = None) -> str | None:
    """The customer's tier under the active model of ``product_line`` (None: no such tier yet)."""
    line_id = _line_id(product_line)
    if line_id is None or customer is None or customer.pk is None:
        return None
    on = on or timezone.localdate()
    row = (
        CustomerTier.objects.filter(
            customer_id=customer.pk, model__product_line_id=line_id, model__is_active=True
        )
        .values_list("tier", "override_tier", "override_until")
        .first()
    )
    if row is None:
        return None
    tier, override_tier, override_until = row
    return effective_line_tier(tier, override_tier, override_until, on)


def strategy_for(
    customer: Any,
    product_line: Any = None,
    *,
    on: dt.date | None = None,
    menu: MenuInForce | None = None,
) -> Strategy:
    """What ``customer`` is entitled to (for ``product_line``, a ``ProductLine`` or its id) on ``on``.

    At most two queries (one without a product line; none for the menu when ``menu`` — the
    ``menu_in_force`` of the same date — is passed); no writes. See the module docstring.
    """
    on = on or timezone.localdate()
    line_id = _line_id(product_line)
    tier = getattr(customer, "tier", "") or ""
    if line_id is not None:
        line_tier = customer_line_tier(customer, line_id, on=on)
        if line_tier is not None:
            tier = line_tier
    menu = menu if menu is not None else menu_in_force(on)
    return menu.strategy(tier, line_id)


class CreditTerms(NamedTuple):
    """A customer's credit limit and payment terms, and where they come from.

    ``source``: ``customer`` (both its own), ``menu`` (both the tier's, from the menu in force),
    ``default`` (no menu rule: the built-in terms), or ``mixed`` (one of each — the customer's own
    ``credit_limit`` / ``payment_terms_days`` field that is set is its own).
    """

    credit_limit: Decimal | None
    payment_terms_days: int
    source: str


def customer_credit_terms(
    customer: Any, *, on: dt.date | None = None, menu: MenuInForce | None = None
) -> CreditTerms:
    """``(credit_limit, payment_terms_days, source)``: the customer's own values, else its tier's.

    Finance reads credit defaults only through this. One query (none with ``menu``).
    """
    own_limit = getattr(customer, "credit_limit", None)
    own_terms = getattr(customer, "payment_terms_days", None)
    if own_limit is not None and own_terms is not None:
        return CreditTerms(own_limit, own_terms, "customer")
    s = strategy_for(customer, on=on, menu=menu)
    tier_source = "default" if s.source == SOURCE_DEFAULT else "menu"
    limit = own_limit if own_limit is not None else s.credit_limit
    terms = own_terms if own_terms is not None else s.payment_terms_days
    source = "mixed" if (own_limit is not None or own_terms is not None) else tier_source
    return CreditTerms(limit, terms, source)


# --- reading menus for the screens and the API -----------------------------------------------------

STATE_DRAFT = "draft"
STATE_SCHEDULED = "scheduled"
STATE_IN_FORCE = "in_force"
STATE_ENDED = "ended"
STATE_NEVER = "never_in_force"


def menu_state(menu: StrategyMenu, today: dt.date | None = None) -> str:
    """Where a version stands today: draft, scheduled, in force, ended, or retired before it started."""
    today = today or timezone.localdate()
    if menu.status == MenuStatus.DRAFT:
        return STATE_DRAFT
    if menu.effective_to is not None and menu.effective_to < menu.effective_from:
        return STATE_NEVER
    if menu.effective_from > today:
        return STATE_SCHEDULED
    if menu.effective_to is not None and menu.effective_to < today:
        return STATE_ENDED
    return STATE_IN_FORCE


def menu_list(*, filters: Mapping[str, Any] | None = None) -> QuerySet[StrategyMenu]:
    """Every version of the menu, newest first (the menu is not scoped: every signed-in user reads it)."""
    qs = StrategyMenu.objects.select_related("created_by")
    status = (filters or {}).get("status")
    if status in MenuStatus.values:
        qs = qs.filter(status=status)
    return qs.order_by("-version")


def menu_get(*, pk: Any) -> StrategyMenu | None:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        return None
    return StrategyMenu.objects.select_related("created_by").filter(pk=pk).first()


def menu_rules(menu: StrategyMenu) -> list[StrategyRule]:
    return list(
        StrategyRule.objects.filter(menu=menu)
        .select_related("product_line")
        .order_by("tier", "product_line__sort_order", "product_line__code", "pk")
    )


def tier_catalogue() -> list[tuple[str, str]]:
    """``[(code, label)]`` of the tiers of the active tier models, best first (the global model first).

    Labels follow the current language (``name_en`` in English when set). One query.
    """
    english = (translation.get_language() or "").startswith("en")
    seen: dict[str, str] = {}
    rows = (
        Tier.objects.filter(model__is_active=True)
        # The global model (no product line) first, then per line; best tier first.
        .order_by(F("model__product_line__sort_order").asc(nulls_first=True), "model_id", "rank")
        .values_list("code", "name", "name_en")
    )
    for code, name, name_en in rows:
        if code not in seen:
            seen[code] = (name_en or name) if english else name
    return list(seen.items())
