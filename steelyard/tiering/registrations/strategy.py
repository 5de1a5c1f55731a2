"""What the strategy menu area adds to the shell: menu entries and the customer page's "Tier entitlements"."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from steelyard.core.registry import MenuItem, Section, registry


def _entitlements_section(request, customer):  # type: ignore[no-untyped-def]
    from steelyard.tiering.views.strategy import entitlements_section

    return entitlements_section(request, customer)


registry.add_menu(
    MenuItem(
        "tiering.entitlements",
        _("What each tier entitles"),
        "tier_entitlements",
        icon="card-checklist",
        group=_("Sales"),
        order=204,
    )
)
registry.add_menu(
    MenuItem(
        "tiering.strategy",
        _("Strategy menu"),
        "tier_strategy_list",
        icon="list-check",
        roles=("sales_director", "executive"),
        group=_("Customers"),
        order=276,
    )
)
registry.add_section(
    "customers.customer",
    Section(
        "tier_entitlements",
        _("Tier entitlements"),
        "tiering/strategy/_section_entitlements.html",
        _entitlements_section,
        order=8,
    ),
)
