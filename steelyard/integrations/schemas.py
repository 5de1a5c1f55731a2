"""The record schemas of the inbound integration: what one record of each entity looks like.

One pydantic model per entity (``RECORD_SCHEMAS``). The API validates each posted record against
it, file imports map their columns onto its fields, and the content hash that makes replays free
is computed from the validated record (see ``steelyard.integrations.services.inbound``).

Conventions shared by every entity:

- ``external_id``: the sender's own id of the record (the key of ``ExternalRecord``).
- ``version`` (an integer) or ``updated_at`` (an ISO datetime): which of two records is newer.
- References (``customer``, ``order``, ``product`` …) are the sender's external ids; products and
  product lines also accept our code, orders, contracts and invoices our number, and a customer may
  be named by ``customer_credit_code`` (统一社会信用代码) instead.
- Optional fields that are omitted (or null) keep what is stored when a record is updated; on
  create they take the model's default. Lists (order lines, shipment lines, serial numbers) are
  always the complete list.
- Datetimes without a time zone are read in the site's time zone (Asia/Shanghai).
"""

# No ``from __future__ import annotations``: pydantic resolves the annotations at class creation.

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from steelyard.catalog.models import ProductKind
from steelyard.customers.models import CompanySize, CustomerStatus, Industry
from steelyard.customers.validators import normalize_credit_code, validate_credit_code
from steelyard.orders.models import ContractStatus, InvoiceStatus, OrderStatus, WorkOrderStatus

ERR_DUPLICATE_LINE = _("Line %(line)s appears twice.")
ERR_DUPLICATE_SERIAL = _("Serial number “%(serial)s” appears twice.")
ERR_TOO_MANY_SERIALS = _("More serial numbers (%(count)s) than the quantity shipped (%(quantity)s).")
ERR_MONTH = _("Enter a month as YYYY-MM.")
ERR_CURRENCY = _("Enter a three-letter currency code such as CNY.")
ERR_MAX_DIGITS = _("Enter a number with at most %(digits)s digits, %(places)s after the decimal point.")
ERR_EMPTY_SERIAL = _("A serial number cannot be empty.")

_MONTH = re.compile(r"^(\d{4})[-/.](\d{1,2})(?:[-/.]\d{1,2})?(?:[ T].*)?$")


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """Naive times are read in the site's time zone; every time is kept in UTC (canonical)."""
    if value is None:
        return value
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_current_timezone())
    return value.astimezone(dt.UTC)


def _digits(max_digits: int, places: int, *, positive: bool = False, non_negative: bool = False) -> Any:
    def check(value: Decimal) -> Decimal:
        if not value.is_finite():
            raise ValueError(str(ERR_MAX_DIGITS % {"digits": max_digits, "places": places}))
        quantized = value.quantize(Decimal(1).scaleb(-places))
        if quantized != value or len(quantized.as_tuple().digits) > max_digits:
            raise ValueError(str(ERR_MAX_DIGITS % {"digits": max_digits, "places": places}))
        if positive and quantized <= 0:
            raise ValueError(str(_("Ensure this value is greater than %(gt)s.") % {"gt": 0}))
        if non_negative and quantized < 0:
            raise ValueError(str(_("Ensure this value is greater than or equal to %(ge)s.") % {"ge": 0}))
        return quantized

    return AfterValidator(check)


Money = Annotated[Decimal, _digits(16, 2)]
Price = Annotated[Decimal, _digits(16, 2, non_negative=True)]
Quantity = Annotated[Decimal, _digits(14, 3, positive=True)]
QuantityDone = Annotated[Decimal, _digits(14, 3, non_negative=True)]
AwareDatetime = Annotated[dt.datetime, AfterValidator(_aware)]


def _currency(value: str) -> str:
    value = value.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", value):
        raise ValueError(str(ERR_CURRENCY))
    return value


def _credit_code(value: str) -> str:
    code = normalize_credit_code(value)
    if code:
        try:
            validate_credit_code(code)
        except Exception as exc:  # django ValidationError: its message, in the user's language
            raise ValueError(" ".join(getattr(exc, "messages", [str(exc)]))) from None
    return code


Currency = Annotated[str, AfterValidator(_currency)]
CreditCode = Annotated[str, Field(max_length=30), AfterValidator(_credit_code)]
Ref = Annotated[str, Field(min_length=1, max_length=100)]


def _choices(choices: Any) -> Any:
    return Literal[tuple(choices.values)]  # type: ignore[valid-type]


class Record(BaseModel):
    """What every inbound record carries."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    external_id: str = Field(..., min_length=1, max_length=100, description="The sender's id of the record.")
    version: int | None = Field(
        None, ge=0, le=2**63 - 1, description="The sender's version number (higher is newer)."
    )
    updated_at: AwareDatetime | None = Field(
        None, description="When the sender last changed the record; used as the version when no version."
    )

    #: Fields that name another record (for file imports and documentation).
    REFS: ClassVar[dict[str, str]] = {}


class CustomerRefMixin(BaseModel):
    customer: Ref | None = Field(None, description="The sender's id of the customer.")
    customer_credit_code: CreditCode | None = Field(
        None, description="Or: the customer's unified social credit code."
    )


# --- catalogue --------------------------------------------------------------------------------


class ProductLineRecord(Record):
    code: str = Field(..., min_length=1, max_length=30)
    name: str = Field(..., min_length=1, max_length=100)
    name_en: str | None = Field(None, max_length=100)
    description: str | None = None
    is_active: bool | None = None


class ProductRecord(Record):
    REFS = {"product_line": "product_line"}

    code: str = Field(..., min_length=1, max_length=40)
    name: str = Field(..., min_length=1, max_length=200)
    product_line: Ref
    name_en: str | None = Field(None, max_length=200)
    kind: _choices(ProductKind) | None = None  # type: ignore[valid-type]
    list_price: Price | None = None
    currency: Currency | None = None
    unit: str | None = Field(None, max_length=10)
    description: str | None = None
    is_active: bool | None = None


# --- customers --------------------------------------------------------------------------------


class CustomerRecord(Record):
    legal_name: str = Field(..., min_length=1, max_length=200)
    short_name: str | None = Field(None, max_length=80)
    credit_code: CreditCode | None = None
    industry: _choices(Industry) | None = None  # type: ignore[valid-type]
    province: str | None = Field(None, max_length=20)
    city: str | None = Field(None, max_length=40)
    address: str | None = Field(None, max_length=200)
    size: _choices(CompanySize) | None = None  # type: ignore[valid-type]
    status: _choices(CustomerStatus) | None = None  # type: ignore[valid-type]
    is_key_account: bool | None = None
    owner: str | None = Field(
        None,
        max_length=150,
        description="Username of the owning rep; used only when the customer is created.",
    )


# --- order to cash ----------------------------------------------------------------------------


class ContractRecord(CustomerRefMixin, Record):
    REFS = {"customer": "customer"}

    number: str | None = Field(None, min_length=1, max_length=60)
    title: str | None = Field(None, max_length=200)
    status: _choices(ContractStatus) | None = None  # type: ignore[valid-type]
    signed_on: dt.date | None = None
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None
    amount: Money | None = None
    currency: Currency | None = None


class OrderLineRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    line_no: int = Field(..., ge=1, le=100000)
    product: Ref
    quantity: Quantity
    unit_price: Price
    unit_cost: Price | None = Field(
        None, description="The line's unit cost, for margins (kept when omitted)."
    )
    requested_date: dt.date | None = None
    promised_date: dt.date | None = None
    description: str | None = Field(None, max_length=200)


def _unique_lines(lines: list[Any]) -> list[Any]:
    seen: set[int] = set()
    for line in lines:
        if line.line_no in seen:
            raise ValueError(str(ERR_DUPLICATE_LINE % {"line": line.line_no}))
        seen.add(line.line_no)
    return lines


class OrderRecord(CustomerRefMixin, Record):
    REFS = {"customer": "customer", "contract": "contract", "lines.product": "product"}

    number: str | None = Field(None, min_length=1, max_length=60)
    contract: Ref | None = None
    ordered_on: dt.date
    requested_date: dt.date | None = None
    promised_date: dt.date | None = None
    plant: str | None = Field(None, max_length=30, description="Plant code.")
    currency: Currency | None = None
    notes: str | None = None
    status: _choices(OrderStatus) | None = None  # type: ignore[valid-type]
    status_at: AwareDatetime | None = None
    lines: list[OrderLineRecord] = Field(..., min_length=1, max_length=1000)

    @field_validator("lines")
    @classmethod
    def _check_lines(cls, value: list[Any]) -> list[Any]:
        return _unique_lines(value)


class OrderStatusRecord(Record):
    REFS = {"order": "order"}

    external_id: str | None = Field(  # type: ignore[assignment]
        None, min_length=1, max_length=100, description="Optional: defaults to order:status:at."
    )
    order: Ref
    status: _choices(OrderStatus)  # type: ignore[valid-type]
    at: AwareDatetime
    note: str | None = Field(None, max_length=300)


class ShipmentLineRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    line_no: int = Field(..., ge=1, le=100000)
    quantity: Quantity
    serial_numbers: list[Annotated[str, Field(max_length=80)]] = Field(default_factory=list, max_length=10000)

    @field_validator("serial_numbers")
    @classmethod
    def _serials(cls, value: list[str]) -> list[str]:
        seen: set[str] = set()
        for serial in value:
            if not serial:
                raise ValueError(str(ERR_EMPTY_SERIAL))
            if serial in seen:
                raise ValueError(str(ERR_DUPLICATE_SERIAL % {"serial": serial}))
            seen.add(serial)
        return value

    @model_validator(mode="after")
    def _serials_fit(self) -> "ShipmentLineRecord":
        if len(self.serial_numbers) > self.quantity:
            raise ValueError(
                str(
                    ERR_TOO_MANY_SERIALS
                    % {"count": len(self.serial_numbers), "quantity": format(self.quantity.normalize(), "f")}
                )
            )
        return self


class ShipmentRecord(Record):
    REFS = {"order": "order"}

    number: str | None = Field(None, min_length=1, max_length=60)
    order: Ref
    shipped_on: dt.date
    delivered_on: dt.date | None = None
    carrier: str | None = Field(None, max_length=100)
    tracking: str | None = Field(None, max_length=100)
    lines: list[ShipmentLineRecord] = Field(..., min_length=1, max_length=1000)

    @field_validator("lines")
    @classmethod
    def _check_lines(cls, value: list[Any]) -> list[Any]:
        return _unique_lines(value)


class InvoiceRecord(CustomerRefMixin, Record):
    REFS = {"customer": "customer", "order": "order", "contract": "contract"}

    number: str | None = Field(None, min_length=1, max_length=60)
    order: Ref | None = None
    contract: Ref | None = None
    issued_on: dt.date
    due_on: dt.date
    amount: Money
    tax: Money | None = None
    currency: Currency | None = None
    status: _choices(InvoiceStatus) | None = None  # type: ignore[valid-type]


class PaymentRecord(CustomerRefMixin, Record):
    REFS = {"customer": "customer", "invoice": "invoice"}

    number: str | None = Field(None, min_length=1, max_length=60)
    invoice: Ref | None = None
    received_on: dt.date
    amount: Money
    method: str | None = Field(None, max_length=30)
    currency: Currency | None = None


class ProductionRecord(Record):
    REFS = {"order": "order"}

    number: str | None = Field(None, min_length=1, max_length=60, description="Work order number.")
    order: Ref
    line_no: int = Field(..., ge=1, le=100000)
    plant: str | None = Field(None, max_length=30, description="Plant code.")
    status: _choices(WorkOrderStatus)  # type: ignore[valid-type]
    quantity: Quantity | None = None
    quantity_done: QuantityDone | None = None
    planned_start: dt.date | None = None
    planned_finish: dt.date | None = None
    actual_start: dt.date | None = None
    actual_finish: dt.date | None = None
    status_at: AwareDatetime | None = None


def _month(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value.replace(day=1)
    match = _MONTH.match(str(value).strip())
    if not match:
        raise ValueError(str(ERR_MONTH))
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        raise ValueError(str(ERR_MONTH))
    return dt.date(year, month, 1)


class CapacityRecord(Record):
    REFS = {"product_line": "product_line"}

    external_id: str | None = Field(  # type: ignore[assignment]
        None, min_length=1, max_length=100, description="Optional: defaults to product_line:plant:month."
    )
    product_line: Ref
    plant: str = Field(..., min_length=1, max_length=30, description="Plant code (created when new).")
    plant_name: str | None = Field(None, max_length=100)
    month: Annotated[str, Field(max_length=10)]
    capacity_units: int = Field(..., ge=0, le=2_000_000_000)
    planned_units: int | None = Field(None, ge=0, le=2_000_000_000)

    @field_validator("month", mode="before")
    @classmethod
    def _check_month(cls, value: Any) -> str:
        return _month(value).strftime("%Y-%m")


RECORD_SCHEMAS: dict[str, type[Record]] = {
    "customer": CustomerRecord,
    "product_line": ProductLineRecord,
    "product": ProductRecord,
    "contract": ContractRecord,
    "order": OrderRecord,
    "order_status": OrderStatusRecord,
    "shipment": ShipmentRecord,
    "invoice": InvoiceRecord,
    "payment": PaymentRecord,
    "production": ProductionRecord,
    "capacity": CapacityRecord,
}


def month_date(value: str) -> dt.date:
    """``"2025-03"`` → ``date(2025, 3, 1)``."""
    return _month(value)
