"""Registrations of the opportunities area: the ``sales.stage_gate`` approval kind, the menu entry, the
customer page's "Opportunities" section, global search, the home widget ("my deals closing this month")
and the bulk-reassignment hook that moves a leaving rep's open deals with their customers."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from steelyard.core.registry import HomeWidget, MenuItem, SearchProvider, SearchResult, Section, registry
from steelyard.core.services.approvals import approval_kind_register
from steelyard.customers.services.territories import register_reassign_hook
from steelyard.sales.services import opportunities as services

approval_kind_register(
    services.KIND_STAGE_GATE,
    label=_("Stage gate"),
    on_approved=services.stage_gate_approved,
    default_steps=[{"type": "manager", "level": 1}],
    subject_model="sales.Opportunity",
    describe_change=services.stage_gate_describe,
)


def _view(name: str):  # type: ignore[no-untyped-def]
    """A section/widget context that imports the views lazily (registrations load before the URLconf)."""

    def context(*args: Any) -> Any:
        from steelyard.sales.views import opportunities as views

        return getattr(views, name)(*args)

    context.__name__ = name
    return context


def _search(user: Any, q: str, limit: int) -> list[SearchResult]:
    """Opportunities the searcher can see, by number or name (or their customer's name)."""
    from steelyard.sales.selectors.opportunities import opportunity_search

    return [
        SearchResult(
            kind=_("Opportunity"),
            title=f"{o.number} {o.name}",
            url=reverse("sales_opportunity_detail", args=[o.pk]),
            subtitle=" · ".join(
                s for s in (o.customer.legal_name, str(o.stage), str(o.get_status_display())) if s
            ),
        )
        for o in opportunity_search(user=user, q=q, limit=limit)
    ]


registry.add_menu(
    MenuItem(
        "sales.opportunities",
        _("Opportunities"),
        "sales_opportunity_list",
        icon="briefcase",
        group=_("Sales"),
        order=250,
    )
)
registry.add_search(SearchProvider("sales.opportunities", _("Opportunities"), _search, order=30))
registry.add_section(
    "customers.customer",
    Section(
        "opportunities",
        _("Opportunities"),
        "sales/opportunities/_customer_section.html",
        _view("customer_section"),
        order=20,
    ),
)
registry.add_home(
    HomeWidget(
        "sales.closing_this_month",
        "sales/opportunities/_home_widget.html",
        _view("home_widget_context"),
        roles=("sales_rep", "sales_manager", "sales_director"),
        order=40,
    )
)


def _reassign_hook(actor: Any, from_user: Any, to_user: Any) -> int:
    from steelyard.sales.services.opportunities import opportunities_reassign_bulk

    return opportunities_reassign_bulk(actor=actor, from_user=from_user, to_user=to_user)


register_reassign_hook(_reassign_hook, key="sales.opportunities")
