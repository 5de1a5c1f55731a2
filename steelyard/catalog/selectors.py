"""Reading the catalogue.

The catalogue is not customer data: every active, signed-in user may read all of it, and
nobody else reads any of it (:func:`catalog_readable` is the catalogue's ``visible_to``).
Counts are computed by the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from steelyard.catalog.models import Product, ProductKind, ProductLine
from steelyard.core.scopes import user_scope


def catalog_readable(queryset: QuerySet, user: Any) -> QuerySet:
    """``queryset`` for a signed-in active user; nothing for anyone else (deny by default)."""
    if user_scope(user) is None:
        return queryset.none()
    return queryset


def _pk(pk: Any) -> int:
    try:
        return int(pk)
    except (TypeError, ValueError):
        raise Http404("No such record.")


# --- product lines -----------------------------------------------------------------------------


def product_line_base(*, user: Any) -> QuerySet[ProductLine]:
    return catalog_readable(ProductLine.objects.all(), user)


def product_line_list(*, user: Any, filters: Mapping[str, Any] | None = None) -> QuerySet[ProductLine]:
    """Product lines with their product counts (all, active, machines), filtered and sorted."""
    from steelyard.catalog.filters import ProductLineFilter

    qs = product_line_base(user=user).annotate(
        product_count=Count("products"),
        active_count=Count("products", filter=Q(products__is_active=True)),
        machine_count=Count(
            "products", filter=Q(products__is_active=True, products__kind=ProductKind.MACHINE)
        ),
    )
    return ProductLineFilter(filters or {}, user=user).apply(qs)


def product_line_get(*, user: Any, pk: Any) -> ProductLine:
    line = product_line_base(user=user).filter(pk=_pk(pk)).first()
    if line is None:
        raise Http404("No such product line.")
    return line


def product_line_kind_counts(line: ProductLine) -> dict[str, int]:
    """Active products of ``line`` per kind, in one GROUP BY."""
    rows = (
        Product.objects.filter(product_line=line, is_active=True)
        .order_by()
        .values("kind")
        .annotate(n=Count("id"))
    )
    counts = dict.fromkeys(ProductKind.values, 0)
    counts.update({r["kind"]: r["n"] for r in rows})
    return counts


def active_product_lines(*, user: Any) -> QuerySet[ProductLine]:
    return product_line_base(user=user).filter(is_active=True)


# --- products ----------------------------------------------------------------------------------


def product_base(*, user: Any) -> QuerySet[Product]:
    return catalog_readable(Product.objects.all(), user)


def product_list(*, user: Any, filters: Mapping[str, Any] | None = None) -> QuerySet[Product]:
    """Products filtered and sorted by :class:`~steelyard.catalog.filters.ProductFilter`."""
    from steelyard.catalog.filters import ProductFilter

    qs = product_base(user=user).select_related("product_line")
    return ProductFilter(filters or {}, user=user).apply(qs)


def product_get(*, user: Any, pk: Any) -> Product:
    product = product_base(user=user).select_related("product_line").filter(pk=_pk(pk)).first()
    if product is None:
        raise Http404("No such product.")
    return product


def product_related(*, user: Any, product: Product, include_inactive: bool = False) -> dict[str, Any]:
    """What goes with a product: for a machine, the options, spare parts and services that fit it;
    for anything else, the machines it fits. Two queries at most."""
    if product.kind == ProductKind.MACHINE:
        qs = product_base(user=user).filter(fits=product).select_related("product_line")
        if not include_inactive:
            qs = qs.filter(is_active=True)
        rows = list(qs.order_by("kind", "code"))
        return {
            "options": [p for p in rows if p.kind == ProductKind.OPTION],
            "spare_parts": [p for p in rows if p.kind == ProductKind.SPARE_PART],
            "services": [p for p in rows if p.kind == ProductKind.SERVICE],
            "machines": [],
        }
    machines = list(
        product_base(user=user).filter(fitted_by=product).select_related("product_line").order_by("code")
    )
    return {"options": [], "spare_parts": [], "services": [], "machines": machines}


def machine_choices(*, user: Any) -> QuerySet[Product]:
    """Machine models one may pick in a "fits" list (active ones)."""
    return product_base(user=user).filter(kind=ProductKind.MACHINE, is_active=True).order_by("code")
