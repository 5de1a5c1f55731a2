"""The order-to-cash API (mounted at /api/v1/orders/).

Lists use the pages' filter sets (``orders/filters.py``) and keyset pagination; every record is
scoped through its customer, and one outside the caller's scope answers 404. The one write,
``POST /{id}/status``, records the steps the CRM owns (delivered, installed, accepted) through the
audited service; a bad step or time is a 400 with field details, a malformed body a 422.
"""

# No ``from __future__ import annotations``: ninja resolves the schemas' annotations at runtime.

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status

from steelyard.core.api.pagination import KeysetPagination, paginate
from steelyard.core.filters import ListFilter
from steelyard.orders import selectors
from steelyard.orders.filters import ContractFilter, InvoiceFilter, OrderFilter, PaymentFilter, ShipmentFilter
from steelyard.orders.models import InvoiceStatus, SalesOrder, ShipmentLine
from steelyard.orders.services.orders import order_status_add

router = Router(tags=["orders"])


# --- schemas ---------------------------------------------------------------------------------


class OrderOut(Schema):
    id: int
    number: str
    customer_id: int
    customer_name: str = Field(..., alias="customer.legal_name")
    contract_id: int | None
    ordered_on: dt.date
    requested_date: dt.date | None
    promised_date: dt.date | None
    currency: str
    amount: Decimal
    status: str
    status_at: dt.datetime | None
    source: str
    updated_at: dt.datetime


class OrderLineOut(Schema):
    line_no: int
    product_id: int
    product_code: str = Field(..., alias="product.code")
    product_name: str = Field(..., alias="product.name")
    product_line: str = Field(..., alias="product.product_line.code")
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    shipped_quantity: Decimal
    requested_date: dt.date | None
    promised_date: dt.date | None

    @staticmethod
    def resolve_shipped_quantity(obj: Any) -> Decimal:
        return Decimal(obj.shipped_qty or 0).quantize(Decimal("0.001"))


class TimelineStepOut(Schema):
    status: str
    label: str
    state: str = Field(..., description='"done", "current", "cancelled", or "future" (not reached yet).')
    at: dt.datetime | None
    by: str = Field("", description="The person or system that recorded the step.")
    source: str
    note: str


class OrderDetailOut(OrderOut):
    lines: list[OrderLineOut] = Field(..., alias="api_lines")
    timeline: list[TimelineStepOut] = Field(..., alias="api_timeline")


class StatusIn(Schema):
    status: str = Field(..., description='"delivered", "installed" or "accepted".')
    at: dt.datetime | None = Field(None, description="When it happened, with its time zone; default now.")
    note: str = Field("", max_length=300)


class OrderParams(Schema):
    q: str | None = Field(None, max_length=100, description="Order number or customer name.")
    status: str | None = None
    open: bool | None = Field(None, description="Only open orders (not accepted, not cancelled).")
    customer: int | None = None
    product_line: int | None = Field(None, description="Product line id: orders with a line of it.")
    date_from: dt.date | None = Field(None, description="Ordered on or after.")
    date_to: dt.date | None = Field(None, description="Ordered on or before.")


class ContractOut(Schema):
    id: int
    number: str
    customer_id: int
    customer_name: str = Field(..., alias="customer.legal_name")
    title: str
    status: str
    signed_on: dt.date | None
    starts_on: dt.date | None
    ends_on: dt.date | None
    amount: Decimal
    currency: str
    source: str


class ContractParams(Schema):
    q: str | None = Field(None, max_length=100)
    status: str | None = None
    customer: int | None = None
    date_from: dt.date | None = Field(None, description="Signed on or after.")
    date_to: dt.date | None = Field(None, description="Signed on or before.")


class ShipmentLineOut(Schema):
    order_line_no: int = Field(..., alias="order_line.line_no")
    product_code: str = Field(..., alias="order_line.product.code")
    quantity: Decimal
    serial_numbers: list[str]

    @staticmethod
    def resolve_serial_numbers(obj: ShipmentLine) -> list[str]:
        return [u.serial_number for u in obj.units.all()]


class ShipmentOut(Schema):
    id: int
    number: str
    order_id: int
    order_number: str = Field(..., alias="order.number")
    customer_id: int
    shipped_on: dt.date
    delivered_on: dt.date | None
    carrier: str
    tracking_no: str
    amount: Decimal
    lines: list[ShipmentLineOut]

    @staticmethod
    def resolve_lines(obj: Any) -> list[Any]:
        return list(obj.lines.all())


class ShipmentParams(Schema):
    q: str | None = Field(None, max_length=100)
    customer: int | None = None
    order_id: int | None = None
    date_from: dt.date | None = Field(None, description="Shipped on or after.")
    date_to: dt.date | None = Field(None, description="Shipped on or before.")


class InvoiceOut(Schema):
    id: int
    number: str
    customer_id: int
    order_id: int | None
    contract_id: int | None
    issued_on: dt.date
    due_on: dt.date
    amount: Decimal
    tax_amount: Decimal
    currency: str
    status: str
    paid: Decimal = Field(..., description="Payments allocated to this invoice.")
    open_amount: Decimal = Field(..., description="amount − paid, never below zero (0 when cancelled).")
    overdue: bool

    @staticmethod
    def resolve_open_amount(obj: Any) -> Decimal:
        if obj.status != InvoiceStatus.ISSUED:
            return Decimal("0.00")
        return max(obj.amount - obj.paid, Decimal("0.00"))

    @staticmethod
    def resolve_overdue(obj: Any) -> bool:
        return (
            obj.status == InvoiceStatus.ISSUED and obj.paid < obj.amount and obj.due_on < timezone.localdate()
        )


class InvoiceParams(Schema):
    q: str | None = Field(None, max_length=100)
    status: str | None = None
    overdue: bool | None = Field(None, description="Only issued invoices past due and not fully paid.")
    unpaid: bool | None = Field(None, description="Only issued invoices not fully paid.")
    customer: int | None = None
    date_from: dt.date | None = Field(None, description="Issued on or after.")
    date_to: dt.date | None = Field(None, description="Issued on or before.")


class PaymentOut(Schema):
    id: int
    number: str
    customer_id: int
    invoice_id: int | None
    received_on: dt.date
    amount: Decimal
    currency: str
    method: str


class PaymentParams(Schema):
    q: str | None = Field(None, max_length=100)
    method: str | None = None
    customer: int | None = None
    date_from: dt.date | None = Field(None, description="Received on or after.")
    date_to: dt.date | None = Field(None, description="Received on or before.")


class BalancesOut(Schema):
    customer_id: int
    ordered: Decimal
    shipped: Decimal
    invoiced: Decimal
    received: Decimal
    outstanding: Decimal
    overdue: Decimal
    open_order_value: Decimal


# --- helpers ---------------------------------------------------------------------------------


def _filters(params: Schema, filter_class: type[ListFilter], user: Any) -> dict[str, Any]:
    """The query parameters as the page's filter set reads them; a bad value is a 400 naming the field."""
    data: dict[str, Any] = {}
    for key, value in params.dict().items():
        if value is None:
            continue
        if isinstance(value, bool):
            if value:
                data[key] = "1"
            continue
        data[key] = value.isoformat() if isinstance(value, dt.date) else value
    f = filter_class(data, user=user)
    if not f.is_valid():
        raise ValidationError(f.errors.as_data())
    return data


def _detail(user: Any, order_id: int) -> SalesOrder:
    """The order with its lines and timeline attached for :class:`OrderDetailOut`."""
    d = selectors.order_detail(user=user, pk=order_id)
    order = d.order
    order.api_lines = d.lines  # type: ignore[attr-defined]
    order.api_timeline = [  # type: ignore[attr-defined]
        {
            "status": s.status,
            "label": str(s.label),
            "state": s.state,
            "at": s.at,
            "by": s.who,
            "source": s.source,
            "note": s.note,
        }
        for s in d.timeline
    ]
    return order


# --- orders ----------------------------------------------------------------------------------


@router.get("", response=list[OrderOut])
@paginate(KeysetPagination, ordering=("-ordered_on", "-id"))
def list_orders(request: HttpRequest, filters: Query[OrderParams]):  # type: ignore[no-untyped-def]
    """Orders the caller can see, newest first, filtered like the orders page."""
    return selectors.order_list(user=request.user, filters=_filters(filters, OrderFilter, request.user))


@router.get("/{int:order_id}", response=OrderDetailOut)
def get_order(request: HttpRequest, order_id: int):  # type: ignore[no-untyped-def]
    """One order with its lines (and quantities shipped) and its timeline, steps ahead included."""
    return _detail(request.user, order_id)


@router.post("/{int:order_id}/status", response={201: OrderDetailOut})
def add_order_status(request: HttpRequest, order_id: int, payload: StatusIn):  # type: ignore[no-untyped-def]
    """Record delivered, installed or accepted (owner, their managers, administrators)."""
    order: SalesOrder = selectors.order_get(user=request.user, pk=order_id)
    order_status_add(
        actor=request.user,
        order=order,
        status=payload.status,
        at=payload.at or timezone.now(),
        note=payload.note,
    )
    return Status(201, _detail(request.user, order_id))


# --- contracts, shipments, invoices, payments -----------------------------------------------


@router.get("/contracts", response=list[ContractOut])
@paginate(KeysetPagination, ordering=("-id",))
def list_contracts(request: HttpRequest, filters: Query[ContractParams]):  # type: ignore[no-untyped-def]
    return selectors.contract_list(user=request.user, filters=_filters(filters, ContractFilter, request.user))


@router.get("/shipments", response=list[ShipmentOut])
@paginate(KeysetPagination, ordering=("-shipped_on", "-id"))
def list_shipments(request: HttpRequest, filters: Query[ShipmentParams]):  # type: ignore[no-untyped-def]
    """Shipments with their lines and the serial numbers shipped."""
    lines = ShipmentLine.objects.select_related("order_line", "order_line__product").prefetch_related("units")
    qs = selectors.shipment_list(user=request.user, filters=_filters(filters, ShipmentFilter, request.user))
    return qs.prefetch_related(Prefetch("lines", lines))


@router.get("/invoices", response=list[InvoiceOut])
@paginate(KeysetPagination, ordering=("-issued_on", "-id"))
def list_invoices(request: HttpRequest, filters: Query[InvoiceParams]):  # type: ignore[no-untyped-def]
    """Invoices with what was paid against each; ``overdue``/``unpaid`` narrow to the open ones."""
    return selectors.invoice_list(user=request.user, filters=_filters(filters, InvoiceFilter, request.user))


@router.get("/payments", response=list[PaymentOut])
@paginate(KeysetPagination, ordering=("-received_on", "-id"))
def list_payments(request: HttpRequest, filters: Query[PaymentParams]):  # type: ignore[no-untyped-def]
    return selectors.payment_list(user=request.user, filters=_filters(filters, PaymentFilter, request.user))


@router.get("/customers/{int:customer_id}/balances", response=BalancesOut)
def customer_balances(request: HttpRequest, customer_id: int):  # type: ignore[no-untyped-def]
    """Ordered, shipped, invoiced, received, outstanding, overdue and open order value of one customer."""
    b = selectors.customer_balances(user=request.user, customer=customer_id)
    return {"customer_id": customer_id, **b.as_dict()}
