"""Inbound handlers for the catalogue: product lines and products (linked to ours by ``code``)."""

from __future__ import annotations

from typing import Any

from steelyard.catalog.models import Product, ProductLine
from steelyard.integrations.services.handlers.base import (
    Context,
    Handler,
    Item,
    resolve_ids,
    unknown_ref_message,
)


class ProductLineHandler(Handler):
    entity = "product_line"
    model = ProductLine
    key_field = "code"
    fields = {f: f for f in ("code", "name", "name_en", "description", "is_active")}

    def key_of(self, item: Item) -> Any:
        return item.rec.code


class ProductHandler(Handler):
    entity = "product"
    model = Product
    key_field = "code"
    fields = {
        f: f
        for f in (
            "code",
            "name",
            "name_en",
            "kind",
            "list_price",
            "currency",
            "unit",
            "description",
            "is_active",
        )
    }

    def key_of(self, item: Item) -> Any:
        return item.rec.code

    def resolve(self, items: list[Item], ctx: Context) -> None:
        lines = resolve_ids(
            ctx, "product_line", ProductLine, [i.rec.product_line for i in items], fallback="code"
        )
        for item in items:
            row = lines.get(item.rec.product_line)
            if row is None:
                item.reject(
                    "product_line",
                    unknown_ref_message(ctx, "product_line", item.rec.product_line, fallback="code"),
                )
            else:
                item.refs["product_line_id"] = row["pk"]

    def values(self, item: Item, ctx: Context) -> dict[str, Any]:
        return {**super().values(item, ctx), "product_line_id": item.refs["product_line_id"]}
