"""Writing the catalogue: product lines and products (machines, options, spare parts, services).

Administrators and production planners edit the catalogue (and the ERP's machine user, which
is the master of product data in most plants); everyone signed in reads it. Every write is
audited. Codes are unique regardless of case; prices are never negative; options, spare parts
and services fit machine models only, and a machine fits nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from steelyard.catalog.models import Product, ProductKind, ProductLine
from steelyard.core.access import user_has_role
from steelyard.core.services.audit import audit_create, audit_record, audit_update, snapshot
from steelyard.org.roles import INTEGRATION, PRODUCTION_PLANNER

#: Roles that may change the catalogue (administrators always may).
EDITOR_ROLES = (PRODUCTION_PLANNER, INTEGRATION)

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/+-]*$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")

ERR_NOT_ALLOWED = _("Only administrators and production planners may change the catalogue.")
ERR_CODE_REQUIRED = _("Enter a code.")
ERR_CODE_FORMAT = _("Use letters, digits and . _ / + - only, starting with a letter or digit.")
ERR_LINE_CODE_TAKEN = _("Another product line already has the code “%(code)s”.")
ERR_PRODUCT_CODE_TAKEN = _("Another product already has the code “%(code)s”.")
ERR_NAME_REQUIRED = _("Enter a name.")
ERR_PRICE_NEGATIVE = _("The price cannot be negative.")
ERR_PRICE_INVALID = _("Enter a price, e.g. 1280000.00.")
ERR_CURRENCY = _("Use a three-letter currency code such as CNY, USD or EUR.")
ERR_KIND = _("“%(kind)s” is not a kind of product.")
ERR_SETTINGS = _('The settings must be a JSON object, e.g. {"sla_hours": 24}.')
ERR_MACHINE_FITS = _("A machine does not fit other products; only options, spare parts and services do.")
ERR_FITS_NOT_MACHINE = _(
    "Options, spare parts and services fit machine models only: %(codes)s are not machines."
)
ERR_FITS_SELF = _("A product cannot fit itself.")
ERR_KIND_FITTED = _(
    "This machine is fitted by %(count)s options or parts; remove them from it before changing its kind."
)
ERR_LINE_INACTIVE = _("The product line “%(line)s” is not active; pick an active line.")
ERR_UNIT = _("Enter a unit such as 台, 件 or 套.")
ERR_LINE_REQUIRED = _("Pick a product line.")

AUDIT_VERB_FITS = "catalog.fits"
AUDIT_VERB_DEACTIVATE = "catalog.deactivated"
AUDIT_VERB_ACTIVATE = "catalog.activated"

LINE_FIELDS = ("code", "name", "name_en", "description", "settings", "sort_order")
PRODUCT_FIELDS = (
    "code",
    "name",
    "name_en",
    "product_line",
    "kind",
    "list_price",
    "currency",
    "unit",
    "description",
)
MAX_PRICE = Decimal("99999999999999.99")


def can_edit_catalog(user: Any) -> bool:
    """True for administrators, production planners and integration users."""
    return user_has_role(user, *EDITOR_ROLES)


def _require_edit(actor: Any) -> None:
    # ``actor=None`` is the system (seeders, migrations); a person must hold an editor role.
    if actor is None:
        return
    if not can_edit_catalog(actor):
        raise PermissionDenied(str(ERR_NOT_ALLOWED))


def _clean_code(value: Any) -> str:
    code = str(value or "").strip()
    if not code:
        raise ValidationError({"code": str(ERR_CODE_REQUIRED)})
    if not CODE_RE.match(code):
        raise ValidationError({"code": str(ERR_CODE_FORMAT)})
    return code


def _clean_name(value: Any) -> str:
    name = str(value or "").strip()
    if not name:
        raise ValidationError({"name": str(ERR_NAME_REQUIRED)})
    return name


def _clean_price(value: Any) -> Decimal:
    try:
        price = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError({"list_price": str(ERR_PRICE_INVALID)})
    if not price.is_finite() or price > MAX_PRICE:
        raise ValidationError({"list_price": str(ERR_PRICE_INVALID)})
    if price < 0:
        raise ValidationError({"list_price": str(ERR_PRICE_NEGATIVE)})
    return price.quantize(Decimal("0.01"))


# --- product lines ---------------------------------------------------------------------------


def _line_clean(line: ProductLine) -> None:
    line.code = _clean_code(line.code)
    line.name = _clean_name(line.name)
    line.name_en = (line.name_en or "").strip()
    if line.settings is None:
        line.settings = {}
    if not isinstance(line.settings, dict):
        raise ValidationError({"settings": str(ERR_SETTINGS)})
    taken = ProductLine.objects.filter(code__iexact=line.code)
    if line.pk:
        taken = taken.exclude(pk=line.pk)
    if taken.exists():
        raise ValidationError({"code": str(ERR_LINE_CODE_TAKEN % {"code": line.code})})


@transaction.atomic
def product_line_create(*, actor: Any, **fields: Any) -> ProductLine:
    """A new product line (code, name, English name, description, settings, sort order)."""
    _require_edit(actor)
    unknown = set(fields) - set(LINE_FIELDS)
    if unknown:
        raise TypeError(f"product_line_create got unknown fields: {sorted(unknown)}")
    line = ProductLine(**fields)
    _line_clean(line)
    line.save()
    audit_create(actor=actor, obj=line)
    return line


@transaction.atomic
def product_line_update(*, actor: Any, line: ProductLine, **fields: Any) -> ProductLine:
    """Change a product line's fields; the diff is audited."""
    _require_edit(actor)
    unknown = set(fields) - set(LINE_FIELDS)
    if unknown:
        raise TypeError(f"product_line_update got unknown fields: {sorted(unknown)}")
    line = ProductLine.objects.select_for_update().get(pk=line.pk)
    before = snapshot(line)
    for name, value in fields.items():
        setattr(line, name, value)
    _line_clean(line)
    line.save()
    audit_update(actor=actor, obj=line, before=before)
    return line


def _set_active(actor: Any, obj: ProductLine | Product, active: bool) -> None:
    if obj.is_active == active:
        return
    before = snapshot(obj, ["is_active"])
    obj.is_active = active
    obj.save(update_fields=["is_active", "updated_at"])
    audit_update(
        actor=actor, obj=obj, before=before, verb=AUDIT_VERB_ACTIVATE if active else AUDIT_VERB_DEACTIVATE
    )


@transaction.atomic
def product_line_deactivate(*, actor: Any, line: ProductLine) -> ProductLine:
    """Retire a product line: it leaves pick lists; its products and their history stay."""
    _require_edit(actor)
    line = ProductLine.objects.select_for_update().get(pk=line.pk)
    _set_active(actor, line, False)
    return line


@transaction.atomic
def product_line_activate(*, actor: Any, line: ProductLine) -> ProductLine:
    _require_edit(actor)
    line = ProductLine.objects.select_for_update().get(pk=line.pk)
    _set_active(actor, line, True)
    return line


# --- products --------------------------------------------------------------------------------


def _product_clean(product: Product, *, line_changed: bool) -> None:
    product.code = _clean_code(product.code)
    product.name = _clean_name(product.name)
    product.name_en = (product.name_en or "").strip()
    if product.kind not in ProductKind.values:
        raise ValidationError({"kind": str(ERR_KIND % {"kind": product.kind})})
    product.list_price = _clean_price(product.list_price)
    product.currency = str(product.currency or "").strip().upper()
    if not CURRENCY_RE.match(product.currency):
        raise ValidationError({"currency": str(ERR_CURRENCY)})
    product.unit = str(product.unit or "").strip()
    if not product.unit:
        raise ValidationError({"unit": str(ERR_UNIT)})
    if (
        line_changed
        and product.product_line_id
        and not ProductLine.objects.filter(pk=product.product_line_id, is_active=True).exists()
    ):
        raise ValidationError({"product_line": str(ERR_LINE_INACTIVE % {"line": product.product_line})})
    taken = Product.objects.filter(code__iexact=product.code)
    if product.pk:
        taken = taken.exclude(pk=product.pk)
    if taken.exists():
        raise ValidationError({"code": str(ERR_PRODUCT_CODE_TAKEN % {"code": product.code})})


def _check_fits(product: Product, machines: list[Product]) -> None:
    if not machines:
        return
    if product.kind == ProductKind.MACHINE:
        raise ValidationError({"fits": str(ERR_MACHINE_FITS)})
    if product.pk and any(m.pk == product.pk for m in machines):
        raise ValidationError({"fits": str(ERR_FITS_SELF)})
    wrong = sorted(m.code for m in machines if m.kind != ProductKind.MACHINE)
    if wrong:
        raise ValidationError({"fits": str(ERR_FITS_NOT_MACHINE % {"codes": ", ".join(wrong)})})


def _write_fits(actor: Any, product: Product, machines: list[Product], *, audit: bool) -> None:
    old = sorted(product.fits.values_list("code", flat=True)) if product.pk else []
    product.fits.set(machines)
    new = sorted(m.code for m in machines)
    if audit and old != new:
        audit_record(
            actor=actor, action="update", obj=product, verb=AUDIT_VERB_FITS, changes={"fits": [old, new]}
        )


@transaction.atomic
def product_create(*, actor: Any, fits: Iterable[Product] = (), **fields: Any) -> Product:
    """A new product; ``fits`` lists the machine models an option, spare part or service fits."""
    _require_edit(actor)
    unknown = set(fields) - set(PRODUCT_FIELDS)
    if unknown:
        raise TypeError(f"product_create got unknown fields: {sorted(unknown)}")
    product = Product(**fields)
    if product.product_line_id is None:
        raise ValidationError({"product_line": str(ERR_LINE_REQUIRED)})
    _product_clean(product, line_changed=True)
    machines = list(fits)
    _check_fits(product, machines)
    product.save()
    audit_create(actor=actor, obj=product)
    if machines:
        _write_fits(actor, product, machines, audit=True)
    return product


@transaction.atomic
def product_update(
    *, actor: Any, product: Product, fits: Iterable[Product] | None = None, **fields: Any
) -> Product:
    """Change a product's fields (and, when given, the machines it fits); the diff is audited."""
    _require_edit(actor)
    unknown = set(fields) - set(PRODUCT_FIELDS)
    if unknown:
        raise TypeError(f"product_update got unknown fields: {sorted(unknown)}")
    product = Product.objects.select_for_update().select_related("product_line").get(pk=product.pk)
    before = snapshot(product)
    old_kind, old_line = product.kind, product.product_line_id
    for name, value in fields.items():
        setattr(product, name, value)
    _product_clean(product, line_changed=product.product_line_id != old_line)
    if old_kind == ProductKind.MACHINE and product.kind != ProductKind.MACHINE:
        fitted = product.fitted_by.count()
        if fitted:
            raise ValidationError({"kind": str(ERR_KIND_FITTED % {"count": fitted})})
    machines = list(fits) if fits is not None else list(product.fits.all())
    _check_fits(product, machines)
    product.save()
    audit_update(actor=actor, obj=product, before=before)
    if fits is not None:
        _write_fits(actor, product, machines, audit=True)
    return product


@transaction.atomic
def product_set_fits(*, actor: Any, product: Product, machines: Iterable[Product]) -> Product:
    """Say which machine models an option, spare part or service fits (replaces the list)."""
    _require_edit(actor)
    product = Product.objects.select_for_update().get(pk=product.pk)
    machines = list(machines)
    _check_fits(product, machines)
    _write_fits(actor, product, machines, audit=True)
    return product


@transaction.atomic
def product_deactivate(*, actor: Any, product: Product) -> Product:
    """Retire a product: it leaves pick lists and new orders; orders that have it keep it."""
    _require_edit(actor)
    product = Product.objects.select_for_update().get(pk=product.pk)
    _set_active(actor, product, False)
    return product


@transaction.atomic
def product_activate(*, actor: Any, product: Product) -> Product:
    _require_edit(actor)
    product = Product.objects.select_for_update().get(pk=product.pk)
    _set_active(actor, product, True)
    return product
