"""The catalogue: product lines, products (machines), their options, spare parts and services.

Product lines carry a ``settings`` JSON that later modules extend (stages, tiers, SLAs per
line) without a migration. Everything here is upsertable from the ERP through the
integration layer (``steelyard.integrations``), which keys external records in its own
``ExternalRecord`` table; ``code`` is the business key people type and see.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _

CURRENCY_DEFAULT = "CNY"


class ProductLine(models.Model):
    """A line of business (cranes, engines, rail, marine): the unit of stages, tiers and SLAs."""

    code = models.CharField(_("code"), max_length=30, unique=True)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    description = models.TextField(_("description"), blank=True)
    settings = models.JSONField(
        _("settings"),
        default=dict,
        blank=True,
        help_text=_("Per-line settings that other modules read (stages, tiers, service levels)."),
    )
    sort_order = models.PositiveIntegerField(_("order"), default=100)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("product line")
        verbose_name_plural = _("product lines")
        ordering = ["sort_order", "code"]

    def __str__(self) -> str:
        return self.name


class ProductKind(models.TextChoices):
    MACHINE = "machine", _("Machine / model")
    OPTION = "option", _("Option")
    SPARE_PART = "spare_part", _("Spare part")
    SERVICE = "service", _("Service")


class Product(models.Model):
    """Something we sell: a machine model, an option for it, a spare part or a service."""

    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200)
    name_en = models.CharField(_("English name"), max_length=200, blank=True)
    product_line = models.ForeignKey(
        ProductLine, verbose_name=_("product line"), on_delete=models.PROTECT, related_name="products"
    )
    kind = models.CharField(
        _("kind"), max_length=12, choices=ProductKind.choices, default=ProductKind.MACHINE
    )
    list_price = models.DecimalField(_("list price"), max_digits=16, decimal_places=2, default=Decimal("0"))
    currency = models.CharField(_("currency"), max_length=3, default=CURRENCY_DEFAULT)
    unit = models.CharField(_("unit"), max_length=10, default="台")
    description = models.TextField(_("description"), blank=True)
    fits = models.ManyToManyField(
        "self",
        verbose_name=_("fits"),
        symmetrical=False,
        blank=True,
        related_name="fitted_by",
        help_text=_("For options and spare parts: the machine models they fit."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["product_line", "kind", "code"]
        indexes = [models.Index(fields=["product_line", "kind"])]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"
