"""What the catalog module adds to the shell: menu entries and the product search."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from steelyard.core.registry import MenuItem, SearchProvider, SearchResult, registry


def search_products(user: Any, q: str, limit: int) -> list[SearchResult]:
    """Active products by the start of their code or part of their name (readable by everyone signed in)."""
    from steelyard.catalog.filters import product_search_q
    from steelyard.catalog.selectors import product_base

    q = (q or "").strip()
    if not q:
        return []
    rows = (
        product_base(user=user)
        .filter(product_search_q(q), is_active=True)
        .select_related("product_line")
        .order_by("code", "pk")[:limit]
    )
    return [
        SearchResult(
            kind=_("Product"),
            title=f"{p.code} {p.name}",
            url=reverse("catalog_product_detail", args=[p.pk]),
            subtitle=" · ".join(str(s) for s in (p.get_kind_display(), p.product_line.name) if s),
        )
        for p in rows
    ]


registry.add_menu(
    MenuItem(
        "catalog.products",
        _("Products"),
        "catalog_product_list",
        icon="box-seam",
        group=_("Catalogue"),
        order=400,
    )
)
registry.add_menu(
    MenuItem(
        "catalog.lines",
        _("Product lines"),
        "catalog_line_list",
        icon="diagram-3",
        group=_("Catalogue"),
        order=410,
    )
)
registry.add_search(SearchProvider("products", _("Products"), search_products, order=40))
