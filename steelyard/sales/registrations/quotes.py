"""Registrations of the quotes area: the ``sales.quote_discount`` approval kind (and the subscriber that puts
a quote back to draft when its request is withdrawn), the daily expiry job, the menu entries (quotes,
framework agreements), the opportunity page's "Quotes" section, the customer page's "Quotes" and
"Framework agreements" sections, and global search.

Quotes follow their opportunity when a leaving rep's deals are reassigned (they are scoped through the
opportunity); agreements follow their customer: no reassignment hook is needed.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from steelyard.core.events import subscribe
from steelyard.core.periodic import periodic
from steelyard.core.registry import MenuItem, SearchProvider, SearchResult, Section, registry
from steelyard.core.services.approvals import approval_kind_register
from steelyard.sales.services import quotes as services

EXPIRY_JOB = "sales.quotes_expire"


def _describe(change: dict[str, Any]) -> list[tuple[Any, Any]]:
    from django.utils.translation import gettext

    from steelyard.org.models import Role

    codes = [str(c) for c in change.get("approval_chain") or []]
    names = dict(Role.objects.filter(code__in=codes).values_list("code", "name"))
    chain = [gettext(names[c]) if c in names else c for c in codes]
    return [
        (_("Quote"), change.get("quote", "")),
        (_("Customer"), change.get("customer", "")),
        (_("Largest line discount"), f"{change.get('discount_pct', '')}%"),
        (_("Allowed without approval"), f"{change.get('max_discount_pct', '')}%"),
        (_("Tier"), change.get("tier") or "—"),
        (_("Total at list price"), f"{change.get('list_total', '')} {change.get('currency', '')}"),
        (_("Total"), f"{change.get('net_total', '')} {change.get('currency', '')}"),
        (_("Approval chain"), " → ".join(chain) if chain else _("Manager")),
    ]


approval_kind_register(
    services.KIND_DISCOUNT,
    label=_("Quote discount"),
    on_approved=services.quote_discount_approved,
    on_rejected=services.quote_discount_rejected,
    default_steps=[{"type": "manager", "level": 1}],
    subject_model="sales.Quote",
    describe_change=_describe,
)
subscribe(
    "sales.quote_discount_withdrawn", services.on_approval_decided, wants=lambda t: t == "approval.decided"
)


@periodic(
    EXPIRY_JOB,
    cron="20 0 * * *",
    description=_("Quotes: mark approved and sent quotes past their validity date expired."),
)
def quotes_expire_job() -> dict[str, int]:
    return services.quotes_expire()


def _view(module: str, name: str):  # type: ignore[no-untyped-def]
    """A section context that imports the views lazily (registrations load before the URLconf)."""

    def context(*args: Any) -> Any:
        from importlib import import_module

        return getattr(import_module(f"steelyard.sales.views.{module}"), name)(*args)

    context.__name__ = name
    return context


def _search_quotes(user: Any, q: str, limit: int) -> list[SearchResult]:
    """Quotes the searcher can see, by number, customer or opportunity."""
    from steelyard.sales.selectors.quotes import quote_search

    return [
        SearchResult(
            kind=_("Quote"),
            title=f"{q.number}-R{q.revision}",
            url=reverse("sales_quote_detail", args=[q.pk]),
            subtitle=" · ".join(s for s in (q.customer.legal_name, str(q.get_status_display())) if s),
        )
        for q in quote_search(user=user, q=q, limit=limit)
    ]


def _search_agreements(user: Any, q: str, limit: int) -> list[SearchResult]:
    """Framework agreements the searcher can see, by number, title or customer."""
    from steelyard.sales.selectors.agreements import agreement_search

    return [
        SearchResult(
            kind=_("Framework agreement"),
            title=f"{a.number} {a.title}",
            url=reverse("sales_agreement_detail", args=[a.pk]),
            subtitle=a.customer.legal_name,
        )
        for a in agreement_search(user=user, q=q, limit=limit)
    ]


registry.add_menu(
    MenuItem(
        "sales.quotes",
        _("Quotes"),
        "sales_quote_list",
        icon="file-earmark-ruled",
        group=_("Sales"),
        order=258,
    )
)
registry.add_menu(
    MenuItem(
        "sales.agreements",
        _("Framework agreements"),
        "sales_agreement_list",
        icon="calendar-range",
        group=_("Sales"),
        order=260,
    )
)
registry.add_search(SearchProvider("sales.quotes", _("Quotes"), _search_quotes, order=32))
registry.add_search(
    SearchProvider("sales.agreements", _("Framework agreements"), _search_agreements, order=34)
)
registry.add_section(
    "sales.opportunity",
    Section(
        "quotes",
        _("Quotes"),
        "sales/quotes/_opportunity_section.html",
        _view("quotes", "opportunity_section"),
        order=30,
    ),
)
registry.add_section(
    "customers.customer",
    Section(
        "quotes",
        _("Quotes"),
        "sales/quotes/_customer_section.html",
        _view("quotes", "customer_section"),
        order=21,
    ),
)
registry.add_section(
    "customers.customer",
    Section(
        "agreements",
        _("Framework agreements"),
        "sales/agreements/_customer_section.html",
        _view("agreements", "customer_section"),
        order=27,
    ),
)
