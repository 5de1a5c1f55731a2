"""Test helpers for catalogue, order-to-cash and integration tests (plain ORM, for arranging a test)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

from django.utils import timezone

from steelyard.catalog.models import Product, ProductKind, ProductLine
from steelyard.orders.models import OrderLine, OrderStatus, OrderStatusEvent, SalesOrder

_seq = itertools.count(1)


def make_product_line(code: str | None = None, **kw: Any) -> ProductLine:
    code = code or f"PL{next(_seq)}"
    line, _ = ProductLine.objects.get_or_create(
        code=code, defaults={"name": kw.pop("name", f"产品线{code}"), **kw}
    )
    return line


def make_product(
    code: str | None = None, *, line: ProductLine | None = None, price: str | Decimal = "1000000", **kw: Any
) -> Product:
    code = code or f"P{next(_seq):05d}"
    return Product.objects.create(
        code=code,
        name=kw.pop("name", f"产品{code}"),
        product_line=line or make_product_line("CRANE", name="起重机"),
        kind=kw.pop("kind", ProductKind.MACHINE),
        list_price=Decimal(str(price)),
        **kw,
    )


def make_order(
    customer: Any,
    *,
    number: str | None = None,
    lines: list[tuple[Product, Any, Any]] | None = None,
    status: str = OrderStatus.CONFIRMED,
    ordered_on: dt.date | None = None,
    at: dt.datetime | None = None,
    source: str = "crm",
) -> SalesOrder:
    """An order with lines [(product, quantity, unit_price)] and one status event (no services, no events)."""
    number = number or f"SO{next(_seq):06d}"
    at = at or timezone.now()
    order = SalesOrder.objects.create(
        number=number,
        customer=customer,
        ordered_on=ordered_on or timezone.localdate(at),
        status=status,
        status_at=at,
        source=source,
    )
    total = Decimal("0")
    for i, (product, qty, price) in enumerate(lines or [(make_product(), 1, "1000000")], start=1):
        amount = Decimal(str(qty)) * Decimal(str(price))
        OrderLine.objects.create(
            order=order,
            line_no=i,
            product=product,
            quantity=qty,
            unit_price=Decimal(str(price)),
            amount=amount,
        )
        total += amount
    order.amount = total
    order.save(update_fields=["amount"])
    OrderStatusEvent.objects.create(order=order, status=status, at=at, source=source)
    return order


def make_system(code: str = "erp", *, name: str | None = None, kind: str = "erp", token: bool = True) -> Any:
    """An external system with its machine user (role ``integration``); returns (system, plain token or None)."""
    from steelyard.core.services.tokens import api_token_create
    from steelyard.integrations.models import ExternalSystem
    from steelyard.org.models import Role, User

    user = User.objects.create(username=f"sys-{code}", display_name=name or code.upper(), is_machine=True)
    user.set_unusable_password()
    user.save()
    user.roles.set([Role.objects.get(code="integration")])
    system = ExternalSystem.objects.create(code=code, name=name or code.upper(), kind=kind, user=user)
    plain = None
    if token:
        admin = (
            User.objects.filter(is_superuser=True).first()
            or User.objects.filter(roles__code="administrator").first()
        )
        plain = api_token_create(actor=admin, name=f"{code} token", user=user).plain if admin else None
    return system, plain
