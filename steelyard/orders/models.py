"""Order to cash: contracts, sales orders and their lines, shipments (with the serial numbers
shipped), invoices, payments, the order status timeline, production status (MES) and
capacity (APS).

Every record is scoped through its customer (``customer__owner`` / ``customer__org_unit``),
so a reassigned customer takes its orders along. Records that arrive from an external
system are keyed in ``integrations.ExternalRecord``; ``source`` names where a row came from
("crm" or the external system's code) for people reading it.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from steelyard.catalog.models import CURRENCY_DEFAULT
from steelyard.core.scopes import ScopedManager
from steelyard.customers.models import CustomerScoped

SOURCE_CRM = "crm"
ZERO = Decimal("0")


def _money(verbose: str | object) -> models.DecimalField:
    return models.DecimalField(verbose, max_digits=16, decimal_places=2, default=ZERO)  # type: ignore[arg-type]


class Plant(models.Model):
    """A factory that builds machines; capacity and production status are per plant."""

    code = models.CharField(_("code"), max_length=30, unique=True)
    name = models.CharField(_("name"), max_length=100)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("plant")
        verbose_name_plural = _("plants")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class ContractStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SIGNED = "signed", _("Signed")
    ACTIVE = "active", _("In force")
    COMPLETED = "completed", _("Completed")
    TERMINATED = "terminated", _("Terminated")


class Contract(CustomerScoped):
    """A signed sales contract (or framework agreement) with a customer."""

    number = models.CharField(_("contract number"), max_length=60, unique=True)
    customer = models.ForeignKey(
        "customers.Customer", verbose_name=_("customer"), on_delete=models.PROTECT, related_name="contracts"
    )
    title = models.CharField(_("title"), max_length=200, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=ContractStatus.choices, default=ContractStatus.SIGNED
    )
    signed_on = models.DateField(_("signed on"), null=True, blank=True)
    starts_on = models.DateField(_("starts on"), null=True, blank=True)
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    amount = _money(_("amount"))
    currency = models.CharField(_("currency"), max_length=3, default=CURRENCY_DEFAULT)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("signed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    source = models.CharField(_("source"), max_length=40, default=SOURCE_CRM)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = ScopedManager()
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("contract")
        verbose_name_plural = _("contracts")
        ordering = ["-signed_on", "-id"]
        indexes = [models.Index(fields=["customer", "-signed_on"])]

    def __str__(self) -> str:
        return self.number

    def get_absolute_url(self) -> str:
        return reverse("contract_detail", args=[self.pk])


class OrderStatus(models.TextChoices):
    CONFIRMED = "confirmed", _("Confirmed")
    SCHEDULED = "scheduled", _("Scheduled")
    IN_PRODUCTION = "in_production", _("In production")
    PRODUCED = "produced", _("Produced")
    SHIPPED = "shipped", _("Shipped")
    DELIVERED = "delivered", _("Delivered")
    INSTALLED = "installed", _("Installed")
    ACCEPTED = "accepted", _("Accepted")
    CANCELLED = "cancelled", _("Cancelled")


# The order of the happy path; an order's status is the furthest step reached (or cancelled).
STATUS_RANK = {s: i for i, s in enumerate(OrderStatus.values)}
OPEN_STATUSES = [s for s in OrderStatus.values if s not in (OrderStatus.ACCEPTED, OrderStatus.CANCELLED)]


class SalesOrder(CustomerScoped):
    """A sales order: what the customer ordered, where it is on its way, and its history."""

    number = models.CharField(_("order number"), max_length=60, unique=True)
    customer = models.ForeignKey(
        "customers.Customer", verbose_name=_("customer"), on_delete=models.PROTECT, related_name="orders"
    )
    contract = models.ForeignKey(
        Contract,
        verbose_name=_("contract"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders",
    )
    ordered_on = models.DateField(_("ordered on"))
    requested_date = models.DateField(_("requested delivery"), null=True, blank=True)
    promised_date = models.DateField(_("promised delivery"), null=True, blank=True)
    plant = models.ForeignKey(
        Plant, verbose_name=_("plant"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    currency = models.CharField(_("currency"), max_length=3, default=CURRENCY_DEFAULT)
    amount = _money(_("amount"))
    status = models.CharField(
        _("status"), max_length=14, choices=OrderStatus.choices, default=OrderStatus.CONFIRMED
    )
    status_at = models.DateTimeField(_("status since"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    source = models.CharField(_("source"), max_length=40, default=SOURCE_CRM)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = ScopedManager()
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        verbose_name = _("sales order")
        verbose_name_plural = _("sales orders")
        ordering = ["-ordered_on", "-id"]
        indexes = [
            models.Index(fields=["customer", "-ordered_on"]),
            models.Index(fields=["status", "-ordered_on"]),
            models.Index(fields=["-ordered_on", "-id"], name="orders_order_newest"),
        ]

    def __str__(self) -> str:
        return self.number

    def get_absolute_url(self) -> str:
        return reverse("order_detail", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class OrderLine(models.Model):
    """One product on an order, at a price."""

    order = models.ForeignKey(
        SalesOrder, verbose_name=_("order"), on_delete=models.CASCADE, related_name="lines"
    )
    line_no = models.PositiveIntegerField(_("line"))
    product = models.ForeignKey(
        "catalog.Product", verbose_name=_("product"), on_delete=models.PROTECT, related_name="order_lines"
    )
    description = models.CharField(_("description"), max_length=200, blank=True)
    quantity = models.DecimalField(_("quantity"), max_digits=14, decimal_places=3, default=Decimal("1"))
    unit_price = _money(_("unit price"))
    amount = _money(_("amount"))
    unit_cost = models.DecimalField(
        _("unit cost"),
        max_digits=16,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("From the ERP; for margins."),
    )
    requested_date = models.DateField(_("requested delivery"), null=True, blank=True)
    promised_date = models.DateField(_("promised delivery"), null=True, blank=True)

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        ordering = ["order", "line_no"]
        constraints = [models.UniqueConstraint(fields=["order", "line_no"], name="uq_order_line_no")]

    def __str__(self) -> str:
        return f"{self.order_id}/{self.line_no}"


class OrderStatusEvent(models.Model):
    """One step of an order's timeline: what happened, when, who or which system said so."""

    order = models.ForeignKey(
        SalesOrder, verbose_name=_("order"), on_delete=models.CASCADE, related_name="status_events"
    )
    status = models.CharField(_("status"), max_length=14, choices=OrderStatus.choices)
    at = models.DateTimeField(_("at"))
    source = models.CharField(_("source"), max_length=40, default=SOURCE_CRM)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    note = models.CharField(_("note"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("recorded"), auto_now_add=True)

    class Meta:
        verbose_name = _("order status event")
        verbose_name_plural = _("order status events")
        ordering = ["order", "at", "id"]
        indexes = [models.Index(fields=["order", "at"])]
        constraints = [
            models.UniqueConstraint(fields=["order", "status", "at"], name="uq_order_status_event")
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.status} {self.at:%Y-%m-%d}"


class Shipment(CustomerScoped):
    """Goods leaving a plant for a customer, with the lines and serial numbers shipped."""

    number = models.CharField(_("shipment number"), max_length=60, unique=True)
    order = models.ForeignKey(
        SalesOrder, verbose_name=_("order"), on_delete=models.PROTECT, related_name="shipments"
    )
    customer = models.ForeignKey(
        "customers.Customer", verbose_name=_("customer"), on_delete=models.PROTECT, related_name="shipments"
    )
    shipped_on = models.DateField(_("shipped on"))
    delivered_on = models.DateField(_("delivered on"), null=True, blank=True)
    carrier = models.CharField(_("carrier"), max_length=100, blank=True)
    tracking_no = models.CharField(_("tracking number"), max_length=100, blank=True)
    amount = _money(_("value shipped"))
    source = models.CharField(_("source"), max_length=40, default=SOURCE_CRM)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = ScopedManager()

    class Meta:
        verbose_name = _("shipment")
        verbose_name_plural = _("shipments")
        ordering = ["-shipped_on", "-id"]
        indexes = [models.Index(fields=["customer", "-shipped_on"])]

    def __str__(self) -> str:
        return self.number


class ShipmentLine(models.Model):
    shipment = models.ForeignKey(
        Shipment, verbose_name=_("shipment"), on_delete=models.CASCADE, related_name="lines"
    )
    order_line = models.ForeignKey(
        OrderLine, verbose_name=_("order line"), on_delete=models.PROTECT, related_name="shipment_lines"
    )
    quantity = models.DecimalField(_("quantity"), max_digits=14, decimal_places=3)

    class Meta:
        verbose_name = _("shipment line")
        verbose_name_plural = _("shipment lines")
        constraints = [
            models.UniqueConstraint(fields=["shipment", "order_line"], name="uq_shipment_order_line")
        ]

    def __str__(self) -> str:
        return f"{self.shipment_id}/{self.order_line_id}"


class ShippedUnit(models.Model):
    """One serial-numbered machine or part that left the plant: the seed of the installed base."""

    shipment_line = models.ForeignKey(
        ShipmentLine, verbose_name=_("shipment line"), on_delete=models.CASCADE, related_name="units"
    )
    product = models.ForeignKey(
        "catalog.Product", verbose_name=_("product"), on_delete=models.PROTECT, related_name="shipped_units"
    )
    serial_number = models.CharField(_("serial number"), max_length=80)

    class Meta:
        verbose_name = _("shipped unit")
        verbose_name_plural = _("shipped units")
        constraints = [models.UniqueConstraint(fields=["product", "serial_number"], name="uq_shipped_serial")]
        indexes = [models.Index(fields=["serial_number"])]

    def __str__(self) -> str:
        return self.serial_number


class InvoiceStatus(models.TextChoices):
    ISSUED = "issued", _("Issued")
    CANCELLED = "cancelled", _("Cancelled")


class Invoice(CustomerScoped):
    number = models.CharField(_("invoice number"), max_length=60, unique=True)
    customer = models.ForeignKey(
        "customers.Customer", verbose_name=_("customer"), on_delete=models.PROTECT, related_name="invoices"
    )
    order = models.ForeignKey(
        SalesOrder,
        verbose_name=_("order"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoices",
    )
    contract = models.ForeignKey(
        Contract,
        verbose_name=_("contract"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoices",
    )
    issued_on = models.DateField(_("issued on"))
    due_on = models.DateField(_("due on"))
    amount = _money(_("amount"))
    tax_amount = _money(_("of which tax"))
    currency = models.CharField(_("currency"), max_length=3, default=CURRENCY_DEFAULT)
    status = models.CharField(
        _("status"), max_length=10, choices=InvoiceStatus.choices, default=InvoiceStatus.ISSUED
    )
    source = models.CharField(_("source"), max_length=40, default=SOURCE_CRM)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = ScopedManager()

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        ordering = ["-issued_on", "-id"]
        indexes = [
            models.Index(fields=["customer", "-issued_on"]),
            models.Index(fields=["customer", "due_on"]),
        ]

    def __str__(self) -> str:
        return self.number


class Payment(CustomerScoped):
    number = models.CharField(_("receipt number"), max_length=60, unique=True)
    customer = models.ForeignKey(
        "customers.Customer", verbose_name=_("customer"), on_delete=models.PROTECT, related_name="payments"
    )
    invoice = models.ForeignKey(
        Invoice,
        verbose_name=_("invoice"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
    )
    received_on = models.DateField(_("received on"))
    amount = _money(_("amount"))
    currency = models.CharField(_("currency"), max_length=3, default=CURRENCY_DEFAULT)
    method = models.CharField(_("method"), max_length=30, blank=True)
    source = models.CharField(_("source"), max_length=40, default=SOURCE_CRM)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = ScopedManager()

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-received_on", "-id"]
        indexes = [models.Index(fields=["customer", "-received_on"])]

    def __str__(self) -> str:
        return self.number


class WorkOrderStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    RELEASED = "released", _("Released")
    IN_PRODUCTION = "in_production", _("In production")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


class WorkOrder(models.Model):
    """Production status of an order line from the MES: one work order per line and plant."""

    number = models.CharField(_("work order"), max_length=60, unique=True)
    order_line = models.ForeignKey(
        OrderLine, verbose_name=_("order line"), on_delete=models.CASCADE, related_name="work_orders"
    )
    plant = models.ForeignKey(
        Plant, verbose_name=_("plant"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        _("status"), max_length=14, choices=WorkOrderStatus.choices, default=WorkOrderStatus.PLANNED
    )
    quantity = models.DecimalField(_("quantity"), max_digits=14, decimal_places=3, default=Decimal("1"))
    quantity_done = models.DecimalField(_("done"), max_digits=14, decimal_places=3, default=ZERO)
    planned_start = models.DateField(_("planned start"), null=True, blank=True)
    planned_finish = models.DateField(_("planned finish"), null=True, blank=True)
    actual_finish = models.DateField(_("finished on"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=40, default=SOURCE_CRM)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("work order")
        verbose_name_plural = _("work orders")
        ordering = ["order_line", "number"]

    def __str__(self) -> str:
        return self.number


class Capacity(models.Model):
    """APS capacity: how many units a plant can build for a product line in a month, and how many are booked."""

    product_line = models.ForeignKey(
        "catalog.ProductLine", verbose_name=_("product line"), on_delete=models.CASCADE, related_name="+"
    )
    plant = models.ForeignKey(
        Plant, verbose_name=_("plant"), on_delete=models.CASCADE, related_name="capacity"
    )
    month = models.DateField(_("month"), help_text=_("The first day of the month."))
    capacity_units = models.PositiveIntegerField(_("capacity (units)"), default=0)
    planned_units = models.PositiveIntegerField(_("booked (units)"), default=0)
    source = models.CharField(_("source"), max_length=40, default=SOURCE_CRM)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("capacity")
        verbose_name_plural = _("capacity")
        ordering = ["month", "product_line", "plant"]
        constraints = [
            models.UniqueConstraint(fields=["product_line", "plant", "month"], name="uq_capacity_month")
        ]

    def __str__(self) -> str:
        return f"{self.product_line_id}/{self.plant_id} {self.month:%Y-%m}"
