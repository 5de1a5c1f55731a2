"""A small sales world for the opportunity tests: the crane line with the standard playbook (see
``sales.testing``), a crane and an option in the catalogue, alice's and charlie's customers with contacts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from steelyard.catalog.models import Product, ProductKind, ProductLine
from steelyard.customers.models import Contact, Customer, DecisionRole
from steelyard.customers.testing import make_customer
from steelyard.orders.testing import make_product, make_product_line
from steelyard.sales.models import ForecastCell, Playbook
from steelyard.sales.services.forecast import forecast_rebuild
from steelyard.sales.testing import make_playbook


@dataclass
class World:
    line: ProductLine
    playbook: Playbook
    crane: Product
    option: Product
    own: Customer  # alice's
    other: Customer  # charlie's
    boss: Contact  # a decision maker at alice's customer
    buyer: Contact
    close: dt.date


def build_world(personas: Any) -> World:
    line = make_product_line("CRANE", name="起重机")
    playbook = make_playbook(line)
    crane = make_product("QZ-50", line=line, price="1200000", name="50吨门座起重机")
    option = make_product(
        "OPT-RC", line=line, price="85000.50", name="远程监控选装包", kind=ProductKind.OPTION
    )
    own = make_customer(personas.alice, name="上海振华港口机械有限公司", short_name="振华港机")
    other = make_customer(personas.charlie, name="北京查理电厂有限公司")
    boss = Contact.objects.create(
        customer=own, name="王总", title="总经理", decision_role=DecisionRole.DECISION_MAKER
    )
    buyer = Contact.objects.create(customer=own, name="李采购", title="采购经理")
    close = timezone.localdate() + dt.timedelta(days=45)
    return World(line, playbook, crane, option, own, other, boss, buyer, close)


def cells() -> dict[str, tuple[int, int, int]]:
    return {
        c.key: (c.count, c.amount_cents, c.weighted_cents)
        for c in ForecastCell.objects.all()
        if c.count or c.amount_cents or c.weighted_cents
    }


def assert_cells_exact() -> None:
    """The cells kept by deltas equal a full recount."""
    incremental = cells()
    forecast_rebuild()
    assert cells() == incremental


def complete_to_negotiation(world: World, actor: Any, opp: Any) -> Any:
    """Do everything the playbook asks up to negotiation (decision-maker, site survey, a quote, the
    technical proposal) and move the deal there through the services."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from steelyard.sales.models import ItemKind, PlaybookItem, Quote
    from steelyard.sales.services import opportunities as services

    services.opportunity_contact_set(
        actor=actor, opportunity=opp, contact=world.boss, role=DecisionRole.DECISION_MAKER
    )
    items = PlaybookItem.objects.filter(stage__playbook=opp.playbook)
    services.checklist_set(
        actor=actor, opportunity=opp, item=items.get(stage__code="needs", kind=ItemKind.TASK), done=True
    )
    Quote.objects.create(
        number=f"Q-{opp.pk}",
        opportunity=opp,
        customer=opp.customer,
        valid_until=timezone.localdate() + dt.timedelta(days=30),
    )
    pdf = SimpleUploadedFile("技术方案.pdf", b"%PDF-1.4\n%test\n", content_type="application/pdf")
    services.checklist_set(
        actor=actor,
        opportunity=opp,
        item=items.get(stage__code="proposal", kind=ItemKind.DOCUMENT),
        done=True,
        uploaded_file=pdf,
    )
    for code in ("needs", "proposal", "negotiation"):
        if opp.stage.code != code:
            services.opportunity_stage_move(actor=actor, opportunity=opp, to_stage=code)
    return opp
