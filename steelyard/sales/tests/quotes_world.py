"""Arranging the quotes and agreements tests: a strategy menu, a customer with a tier, products and an
opportunity with solution lines, all owned by alice (personas).

The menu (``make_menu``) gives tier ``A`` a 10% discount without approval, above it the chain
``sales_manager`` → ``sales_director`` (bob, then dora for alice); untiered customers 5% with no chain
(the quote kind's own route: the rep's manager).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from steelyard.customers.testing import make_customer
from steelyard.orders.testing import make_product, make_product_line
from steelyard.sales.models import LineKind, Opportunity, OpportunityLine
from steelyard.sales.testing import make_opportunity, make_playbook
from steelyard.tiering.tests.strategy_testing import clear_menus, make_menu

CUSTOMER_NAME = "徐州港务集团有限公司"
OTHER_NAME = "查理的电厂客户有限公司"
CRANE_NAME = "门座式起重机 MQ2535"
HOIST_NAME = "电动葫芦 CD1"


@dataclass
class World:
    line: Any
    crane: Any
    hoist: Any
    customer: Any
    opportunity: Opportunity
    other_customer: Any
    other_opportunity: Opportunity


def make_strategy() -> None:
    clear_menus()
    make_menu(
        1,
        {
            "A": {"max_discount_pct": "10", "approval_chain": ["sales_manager", "sales_director"]},
            "": {"max_discount_pct": "5", "approval_chain": []},
        },
    )


def add_lines(opportunity: Opportunity, rows: list[tuple[Any, str, str]]) -> None:
    """Solution lines ``[(product, quantity, unit price)]``."""
    for i, (product, qty, price) in enumerate(rows, start=1):
        OpportunityLine.objects.create(
            opportunity=opportunity,
            product=product,
            kind=LineKind.MACHINE,
            description="",
            quantity=Decimal(qty),
            unit_price=Decimal(price),
            amount=Decimal(qty) * Decimal(price),
            order=i,
        )


def make_world(personas: Any, *, credit_limit: str | None = None, tier: str = "A") -> World:
    make_strategy()
    line = make_product_line("CRANE", name="起重机")
    make_playbook(line, items=False)
    crane = make_product("MQ2535", line=line, name=CRANE_NAME, name_en="Portal crane MQ2535", price="1000000")
    hoist = make_product("CD1", line=line, name=HOIST_NAME, name_en="Electric hoist CD1", price="500000")
    extra: dict[str, Any] = {"tier": tier}
    if credit_limit is not None:
        extra["credit_limit"] = Decimal(credit_limit)
    customer = make_customer(personas.alice, name=CUSTOMER_NAME, **extra)
    opportunity = make_opportunity(
        personas.alice,
        customer=customer,
        line=line,
        stage="negotiation",
        name="港口门机项目",
        amount="2500000",
    )
    add_lines(opportunity, [(crane, "2", "1000000"), (hoist, "1", "500000")])
    other_customer = make_customer(personas.charlie, name=OTHER_NAME, tier="A")
    other = make_opportunity(
        personas.charlie, customer=other_customer, line=line, stage="negotiation", name="电厂起重项目"
    )
    add_lines(other, [(crane, "1", "1000000")])
    return World(line, crane, hoist, customer, opportunity, other_customer, other)


def line_dicts(quote: Any, **changes: Any) -> list[dict[str, Any]]:
    """The quote's lines as service dicts; ``changes={index: {field: value}}`` edits some."""
    out = []
    for i, ln in enumerate(quote.lines.order_by("order", "id")):
        d = {
            "product": ln.product_id,
            "description": ln.description,
            "quantity": ln.quantity,
            "unit": ln.unit,
            "list_price": ln.list_price,
            "discount_pct": ln.discount_pct,
        }
        d.update(changes.get(f"l{i}", {}))
        out.append(d)
    return out
