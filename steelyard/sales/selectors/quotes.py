"""Reading quotes: the scoped list (shared by the page, the export and the API), one quote with its lines,
search, and the quotes of an opportunity or a customer.

Every read starts from ``Quote.objects.visible_to(user)``: the opportunity's owner, their managers (by
scope), the deal's team and the customer's owner see a quote; anybody else gets a 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from steelyard.core.scopes import VIEW
from steelyard.sales.models import Quote, QuoteLine, QuoteStatus


def _pk(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise Http404("No such quote.") from exc


def quote_base(*, user: Any, action: str = VIEW) -> QuerySet[Quote]:
    """Quotes the user may see (or ``action``)."""
    return Quote.objects.visible_to(user, action)


def quote_list(*, user: Any, filters: Mapping[str, Any] | None = None) -> QuerySet[Quote]:
    """The quotes list: scoped, filtered and sorted by ``QuoteFilter``, rows ready to show."""
    from steelyard.sales.forms_quotes import QuoteFilter

    qs = quote_base(user=user).select_related("customer", "opportunity", "approval")
    return QuoteFilter(filters or {}, user=user).apply(qs)


def quote_get(*, user: Any, pk: Any, action: str = VIEW) -> Quote:
    """One quote the user may see (or ``action``); else 404."""
    quote = (
        quote_base(user=user, action=action)
        .select_related("customer", "opportunity", "opportunity__product_line", "approval", "contract")
        .filter(pk=_pk(pk))
        .first()
    )
    if quote is None:
        raise Http404("No such quote.")
    return quote


def quote_lines(quote: Quote) -> list[QuoteLine]:
    return list(quote.lines.select_related("product").order_by("order", "id"))


def quote_with_lines(*, user: Any, pk: Any) -> Quote:
    """One quote with ``lines`` prefetched (products included), for the API and the PDF."""
    quote = quote_get(user=user, pk=pk)
    quote.line_rows = quote_lines(quote)  # type: ignore[attr-defined]
    return quote


def quote_revisions(quote: Quote, *, user: Any) -> list[Quote]:
    """Every revision of the quote's number the user may see, newest first."""
    return list(
        quote_base(user=user)
        .filter(number=quote.number)
        .order_by("-revision")
        .only("id", "number", "revision", "status", "net_total", "currency", "created_at")
    )


def quotes_for_opportunity(*, user: Any, opportunity: Any, limit: int = 20) -> list[Quote]:
    """The opportunity's quotes the user may see, newest first (superseded revisions included)."""
    return list(
        quote_base(user=user)
        .filter(opportunity=opportunity)
        .select_related("approval")
        .order_by("-created_at", "-id")[:limit]
    )


def quotes_for_customer(*, user: Any, customer: Any, limit: int = 5) -> list[Quote]:
    """The customer's latest quotes the user may see (superseded revisions left out), ``limit`` + 1 rows."""
    return list(
        quote_base(user=user)
        .filter(customer=customer)
        .exclude(status=QuoteStatus.SUPERSEDED)
        .select_related("opportunity")
        .order_by("-created_at", "-id")[: limit + 1]
    )


def quote_search(*, user: Any, q: str, limit: int = 10) -> list[Quote]:
    """Quotes the searcher can see by number or customer name (latest revisions first)."""
    q = (q or "").strip()
    if not q:
        return []
    return list(
        quote_base(user=user)
        .filter(
            Q(number__icontains=q) | Q(customer__legal_name__icontains=q) | Q(opportunity__name__icontains=q)
        )
        .exclude(status=QuoteStatus.SUPERSEDED)
        .select_related("customer")
        .order_by("-created_at", "-id")[:limit]
    )


def approval_hint(quote: Quote) -> str:
    """Who must approve a discount above the limit, e.g. "needs approval from 销售经理 → 销售总监"."""
    from steelyard.org.models import Role
    from steelyard.tiering.selectors.strategy import strategy_for

    chain = strategy_for(quote.customer, quote.opportunity.product_line_id).approval_chain
    if not chain:
        return _("needs approval from your manager")
    names = dict(Role.objects.filter(code__in=chain).values_list("code", "name"))
    return _("needs approval from %(approvers)s") % {
        "approvers": " → ".join(_(names.get(code, code)) for code in chain)
    }


def credit_figures(credit: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The stored credit check with Decimal amounts, for the templates; None when none was made."""
    if not credit:
        return None
    out: dict[str, Any] = {"over": bool(credit.get("over")), "checked_at": credit.get("checked_at")}
    for key in ("limit", "outstanding", "open_orders", "quote", "exposure"):
        value = credit.get(key)
        out[key] = Decimal(value) if value not in (None, "") else None
    if out["limit"] is not None and out["exposure"] is not None:
        out["headroom"] = out["limit"] - out["exposure"]
    return out
