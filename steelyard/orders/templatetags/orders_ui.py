"""Small display helpers of the order-to-cash pages: money and status badges."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import template

register = template.Library()

CURRENCY_SYMBOLS = {"CNY": "¥", "RMB": "¥", "USD": "$", "EUR": "€", "HKD": "HK$", "JPY": "¥", "GBP": "£"}

STATUS_BADGES = {
    "confirmed": "text-bg-secondary",
    "scheduled": "text-bg-info",
    "in_production": "text-bg-primary",
    "produced": "text-bg-primary",
    "shipped": "text-bg-warning",
    "delivered": "text-bg-info",
    "installed": "text-bg-info",
    "accepted": "text-bg-success",
    "cancelled": "text-bg-danger",
    # contracts and invoices
    "draft": "text-bg-light border",
    "signed": "text-bg-info",
    "active": "text-bg-success",
    "completed": "text-bg-secondary",
    "terminated": "text-bg-danger",
    "issued": "text-bg-info",
}


@register.filter
def money(value: Any, currency: str = "CNY") -> str:
    """``¥1,234,567.00``: the currency's symbol (or its code) and two decimals, grouped by thousands.

    Grouped by thousands in every language: that is how amounts are written on Chinese invoices
    and contracts too (zh-hans's own number format has no separator at all).
    """
    if value in (None, ""):
        return "—"
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    symbol = CURRENCY_SYMBOLS.get((currency or "").upper(), f"{currency} " if currency else "")
    sign = "-" if amount < 0 else ""
    return f"{sign}{symbol}{abs(amount):,.2f}"


@register.filter
def status_badge(status: str) -> str:
    """The Bootstrap badge classes of an order, contract or invoice status."""
    return STATUS_BADGES.get(status, "text-bg-light border")


@register.filter
def qty(value: Any) -> str:
    """A quantity without trailing zeros: 2.000 → 2, 1.500 → 1.5."""
    if value in (None, ""):
        return "—"
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    text = format(d.normalize(), "f")
    return text
