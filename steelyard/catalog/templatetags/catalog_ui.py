"""Display helpers of the catalogue pages."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import template

register = template.Library()


@register.filter
def price(value: Any) -> str:
    """``1,850,000.00``: two decimals, grouped by thousands whatever the language (as on invoices)."""
    if value in (None, ""):
        return "—"
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    return f"{amount:,.2f}"
