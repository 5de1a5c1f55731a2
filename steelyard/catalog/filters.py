"""The filter sets of the catalogue lists, shared by the pages and the API."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from steelyard.catalog.models import ProductKind, ProductLine
from steelyard.core.filters import ListFilter

ACTIVE, INACTIVE, ANY = "", "inactive", "all"
ACTIVE_CHOICES = [
    (ACTIVE, _("Active")),
    (INACTIVE, _("Inactive")),
    (ANY, _("Active and inactive")),
]


def _active(queryset: QuerySet, value: str | None) -> QuerySet:
    if value == INACTIVE:
        return queryset.filter(is_active=False)
    if value == ANY:
        return queryset
    return queryset.filter(is_active=True)


def product_search_q(q: str) -> Q:
    """Code (prefix, any case) or Chinese or English name (contains)."""
    q = (q or "").strip()
    if not q:
        return Q()
    return Q(code__istartswith=q) | Q(name__icontains=q) | Q(name_en__icontains=q)


class ProductFilter(ListFilter):
    """Search (code or name), product line, kind, active / inactive."""

    q = forms.CharField(
        label=_("Search"), required=False, max_length=100, help_text=_("Code or name of the product.")
    )
    line = forms.ModelChoiceField(
        label=_("Product line"),
        queryset=ProductLine.objects.all(),
        required=False,
        empty_label=_("All product lines"),
    )
    kind = forms.ChoiceField(
        label=_("Kind"), choices=[("", _("All kinds")), *ProductKind.choices], required=False
    )
    active = forms.ChoiceField(label=_("Show"), choices=ACTIVE_CHOICES, required=False)

    sort_fields = {
        "code": ("code",),
        "name": ("name",),
        "price": ("list_price",),
        "updated": ("updated_at",),
    }
    default_sort = "code"

    def filter_queryset(self, queryset: QuerySet, data: dict[str, Any]) -> QuerySet:
        if data.get("q"):
            queryset = queryset.filter(product_search_q(data["q"]))
        if data.get("line"):
            queryset = queryset.filter(product_line=data["line"])
        if data.get("kind"):
            queryset = queryset.filter(kind=data["kind"])
        return _active(queryset, data.get("active"))


class ProductLineFilter(ListFilter):
    """Search (code or name), active / inactive."""

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    active = forms.ChoiceField(label=_("Show"), choices=ACTIVE_CHOICES, required=False)

    sort_fields = {
        "order": ("sort_order", "code"),
        "code": ("code",),
        "name": ("name",),
        "products": ("product_count",),
    }
    default_sort = "order"

    def filter_queryset(self, queryset: QuerySet, data: dict[str, Any]) -> QuerySet:
        q = (data.get("q") or "").strip()
        if q:
            queryset = queryset.filter(
                Q(code__istartswith=q) | Q(name__icontains=q) | Q(name_en__icontains=q)
            )
        return _active(queryset, data.get("active"))
