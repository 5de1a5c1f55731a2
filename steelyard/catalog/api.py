"""The catalogue API (mounted at /api/v1/catalog/).

Everyone signed in (session or token) reads product lines and products; administrators,
production planners and integration users create and change them. Lists use the pages' filter
sets and keyset pagination; errors come in the one error format (a service's validation error
is a 400 naming the fields, a malformed body a 422, a missing role a 403).
"""

# No ``from __future__ import annotations``: ninja resolves the schemas' annotations at runtime.

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema, Status

from steelyard.catalog import selectors, services
from steelyard.catalog.filters import ProductFilter, ProductLineFilter
from steelyard.catalog.models import Product, ProductLine
from steelyard.core.api.pagination import KeysetPagination, paginate

router = Router(tags=["catalog"])

ERR_UNKNOWN_LINE = _("Unknown product line.")
ERR_UNKNOWN_MACHINES = _("Unknown products: %(ids)s")


# --- schemas ------------------------------------------------------------------------------


class ProductLineOut(Schema):
    id: int
    code: str
    name: str
    name_en: str
    description: str
    settings: dict[str, Any]
    sort_order: int
    is_active: bool
    product_count: int | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


class ProductLineIn(Schema):
    code: str = Field(..., max_length=30)
    name: str = Field(..., max_length=100)
    name_en: str = Field("", max_length=100)
    description: str = ""
    settings: dict[str, Any] = {}
    sort_order: int = Field(100, ge=0, le=2_147_483_647)


class ProductLinePatch(Schema):
    code: str | None = Field(None, max_length=30)
    name: str | None = Field(None, max_length=100)
    name_en: str | None = Field(None, max_length=100)
    description: str | None = None
    settings: dict[str, Any] | None = None
    sort_order: int | None = Field(None, ge=0, le=2_147_483_647)
    is_active: bool | None = Field(None, description="false retires the line; true brings it back.")


class ProductOut(Schema):
    id: int
    code: str
    name: str
    name_en: str
    product_line_id: int
    product_line_code: str
    kind: str
    list_price: Decimal
    currency: str
    unit: str
    description: str
    fits: list[int] = Field(..., description="Ids of the machine models this product fits.")
    is_active: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_product_line_code(obj: Product) -> str:
        return obj.product_line.code

    @staticmethod
    def resolve_fits(obj: Product) -> list[int]:
        return sorted(p.pk for p in obj.fits.all())


class ProductIn(Schema):
    code: str = Field(..., max_length=40)
    name: str = Field(..., max_length=200)
    name_en: str = Field("", max_length=200)
    product_line_id: int
    kind: str = Field("machine", description="machine, option, spare_part or service.")
    list_price: Decimal = Field(Decimal("0"), max_digits=16, decimal_places=2)
    currency: str = Field("CNY", max_length=3)
    unit: str = Field("台", max_length=10)
    description: str = ""
    fits: list[int] = Field([], description="Ids of the machine models it fits (options, parts, services).")


class ProductPatch(Schema):
    code: str | None = Field(None, max_length=40)
    name: str | None = Field(None, max_length=200)
    name_en: str | None = Field(None, max_length=200)
    product_line_id: int | None = None
    kind: str | None = None
    list_price: Decimal | None = Field(None, max_digits=16, decimal_places=2)
    currency: str | None = Field(None, max_length=3)
    unit: str | None = Field(None, max_length=10)
    description: str | None = None
    fits: list[int] | None = Field(None, description="Replaces the list of machines it fits.")
    is_active: bool | None = Field(None, description="false retires the product; true brings it back.")


class ProductLineParams(Schema):
    q: str | None = Field(None, max_length=100, description="Start of the code, or part of the name.")
    active: str | None = Field(None, description='Empty: active only; "inactive"; "all".')


class ProductParams(Schema):
    q: str | None = Field(None, max_length=100, description="Start of the code, or part of the name.")
    line: int | None = Field(None, description="Product line id.")
    kind: str | None = Field(None, description="machine, option, spare_part or service.")
    active: str | None = Field(None, description='Empty: active only; "inactive"; "all".')


# --- helpers ------------------------------------------------------------------------------


def _validated(params: Schema, filter_class: type, user: Any) -> dict[str, Any]:
    data = {k: v for k, v in params.dict().items() if v is not None}
    f = filter_class(data, user=user)
    if not f.is_valid():
        raise ValidationError(f.errors.as_data())
    return data


def _require_edit(request: HttpRequest) -> None:
    if not services.can_edit_catalog(request.user):
        raise PermissionDenied(str(services.ERR_NOT_ALLOWED))


def _line_for(request: HttpRequest, pk: int) -> ProductLine:
    line = selectors.product_line_base(user=request.user).filter(pk=pk).first()
    if line is None:
        raise ValidationError({"product_line_id": str(ERR_UNKNOWN_LINE)})
    return line


def _machines(request: HttpRequest, ids: list[int]) -> list[Product]:
    found = list(selectors.product_base(user=request.user).filter(pk__in=ids))
    missing = sorted(set(ids) - {p.pk for p in found})
    if missing:
        raise ValidationError({"fits": str(ERR_UNKNOWN_MACHINES % {"ids": ", ".join(map(str, missing))})})
    return found


def _products(request: HttpRequest):  # type: ignore[no-untyped-def]
    return (
        selectors.product_base(user=request.user)
        .select_related("product_line")
        .prefetch_related(Prefetch("fits", queryset=Product.objects.only("id")))
    )


def _line_out(request: HttpRequest, pk: int) -> ProductLine:
    return selectors.product_line_list(user=request.user, filters={"active": "all"}).get(pk=pk)


# --- product lines ------------------------------------------------------------------------


@router.get("/lines", response=list[ProductLineOut])
@paginate(KeysetPagination, ordering=("sort_order", "code", "id"))
def list_product_lines(request: HttpRequest, filters: Query[ProductLineParams]):  # type: ignore[no-untyped-def]
    """Product lines with their product counts; active ones unless ``active`` says otherwise."""
    data = _validated(filters, ProductLineFilter, request.user)
    return selectors.product_line_list(user=request.user, filters=data)


@router.get("/lines/{int:line_id}", response=ProductLineOut)
def get_product_line(request: HttpRequest, line_id: int):  # type: ignore[no-untyped-def]
    selectors.product_line_get(user=request.user, pk=line_id)
    return _line_out(request, line_id)


@router.post("/lines", response={201: ProductLineOut})
def create_product_line(request: HttpRequest, payload: ProductLineIn):  # type: ignore[no-untyped-def]
    _require_edit(request)
    line = services.product_line_create(actor=request.user, **payload.dict())
    return Status(201, _line_out(request, line.pk))


@router.patch("/lines/{int:line_id}", response=ProductLineOut)
def update_product_line(request: HttpRequest, line_id: int, payload: ProductLinePatch):  # type: ignore[no-untyped-def]
    _require_edit(request)
    line = selectors.product_line_get(user=request.user, pk=line_id)
    data = {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None}
    active = data.pop("is_active", None)
    if data:
        line = services.product_line_update(actor=request.user, line=line, **data)
    if active is False:
        services.product_line_deactivate(actor=request.user, line=line)
    elif active is True:
        services.product_line_activate(actor=request.user, line=line)
    return _line_out(request, line_id)


# --- products -----------------------------------------------------------------------------


@router.get("/products", response=list[ProductOut])
@paginate(KeysetPagination, ordering=("code", "id"))
def list_products(request: HttpRequest, filters: Query[ProductParams]):  # type: ignore[no-untyped-def]
    """Products filtered like the list page (search, line, kind, active), by code."""
    data = _validated(filters, ProductFilter, request.user)
    return selectors.product_list(user=request.user, filters=data).prefetch_related(
        Prefetch("fits", queryset=Product.objects.only("id"))
    )


@router.get("/products/{int:product_id}", response=ProductOut)
def get_product(request: HttpRequest, product_id: int):  # type: ignore[no-untyped-def]
    selectors.product_get(user=request.user, pk=product_id)
    return _products(request).get(pk=product_id)


@router.post("/products", response={201: ProductOut})
def create_product(request: HttpRequest, payload: ProductIn):  # type: ignore[no-untyped-def]
    _require_edit(request)
    data = payload.dict()
    data["product_line"] = _line_for(request, data.pop("product_line_id"))
    fits = _machines(request, data.pop("fits"))
    product = services.product_create(actor=request.user, fits=fits, **data)
    return Status(201, _products(request).get(pk=product.pk))


@router.patch("/products/{int:product_id}", response=ProductOut)
def update_product(request: HttpRequest, product_id: int, payload: ProductPatch):  # type: ignore[no-untyped-def]
    _require_edit(request)
    product = selectors.product_get(user=request.user, pk=product_id)
    data = {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None or k == "fits"}
    active = data.pop("is_active", None)
    fits = None
    if "fits" in data:
        fits = _machines(request, data.pop("fits") or [])
    if "product_line_id" in data:
        data["product_line"] = _line_for(request, data.pop("product_line_id"))
    if data or fits is not None:
        services.product_update(actor=request.user, product=product, fits=fits, **data)
    if active is False:
        services.product_deactivate(actor=request.user, product=product)
    elif active is True:
        services.product_activate(actor=request.user, product=product)
    return _products(request).get(pk=product_id)
