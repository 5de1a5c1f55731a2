"""Helpers of the strategy menu tests: quick menus and rules (tests of the services use the services)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from steelyard.tiering.models import MenuStatus, StrategyMenu, StrategyRule


def clear_menus() -> None:
    """Remove every version (the shipped v1 from the data migration too), so a test starts empty."""
    StrategyMenu.objects.all().delete()


def make_menu(
    version: int,
    rules: dict[Any, dict[str, Any]],
    *,
    status: str = MenuStatus.ACTIVE,
    effective_from: dt.date = dt.date(2020, 1, 1),
    effective_to: dt.date | None = None,
    name: str = "",
) -> StrategyMenu:
    """A version with ``rules``: ``{tier or (tier, product line): {field: value}}``."""
    menu = StrategyMenu.objects.create(
        name=name or f"Menu {version}",
        version=version,
        status=status,
        effective_from=effective_from,
        effective_to=effective_to,
    )
    for key, values in rules.items():
        tier, line = key if isinstance(key, tuple) else (key, None)
        values = dict(values)
        if "max_discount_pct" in values:
            values["max_discount_pct"] = Decimal(str(values["max_discount_pct"]))
        if values.get("credit_limit") is not None:
            values["credit_limit"] = Decimal(str(values["credit_limit"]))
        StrategyRule.objects.create(menu=menu, tier=tier, product_line=line, **values)
    return menu
