"""Quote pages: the list (filters, search, sort, cards on a phone, CSV export), a new quote from an
opportunity, the quote page (lines edited in place while a draft, with live prices, the tier limit per line
and who must approve above it; the credit check; submit, withdraw, send, accept, reject and revise; the
PDF), and the quote sections of the opportunity and customer pages.

Reads go through ``selectors.quotes`` (scoped; out of scope is 404), writes through ``services.quotes``
(audited). htmx requests to the lines editor get the pricing block back (with the credit panel and the
total swapped out of band); without JavaScript every form posts and redirects.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from steelyard.catalog.models import Product
from steelyard.core import access
from steelyard.core.exports import csv_response
from steelyard.core.filters import paginate
from steelyard.core.scopes import CHANGE
from steelyard.core.services.audit import audit_record
from steelyard.customers.models import Customer
from steelyard.sales.forms_quotes import (
    AcceptForm,
    QuoteCreateForm,
    QuoteFilter,
    QuoteHeaderForm,
    RejectForm,
    SubmitForm,
    apply_service_error,
    is_blank_line,
    line_errors,
    lines_from_post,
)
from steelyard.sales.models import Opportunity, OpportunityStatus, Quote, QuoteStatus
from steelyard.sales.selectors import quotes as selectors
from steelyard.sales.services import quotes as services
from steelyard.sales.services.quote_pdf import CJKFontMissing, quote_pdf_filename, quote_pdf_render
from steelyard.sales.services.stages import StageGateBlocked

EXPORT_CAP = 100_000
AUDIT_VERB_EXPORT = "sales.quote_export"
SECTION_LIMIT = 5

STATUS_BADGES = {
    QuoteStatus.DRAFT: "text-bg-light border",
    QuoteStatus.PENDING: "text-bg-warning",
    QuoteStatus.APPROVED: "text-bg-info",
    QuoteStatus.SENT: "text-bg-primary",
    QuoteStatus.ACCEPTED: "text-bg-success",
    QuoteStatus.REJECTED: "text-bg-danger",
    QuoteStatus.EXPIRED: "text-bg-secondary",
    QuoteStatus.SUPERSEDED: "text-bg-secondary",
}


def _is_htmx(request: HttpRequest) -> bool:
    return bool(request.headers.get("HX-Request"))


def _mark(quotes: Any) -> None:
    """Badge class and the two over-the-limit flags on each quote shown."""
    for q in quotes:
        q.badge = STATUS_BADGES.get(q.status, "text-bg-light border")
        q.over_discount = services.needs_approval(q) and q.status in (QuoteStatus.DRAFT, QuoteStatus.PENDING)
        q.over_credit = bool((q.credit or {}).get("over"))


# --- list and export ---------------------------------------------------------------------------------------


@access.authenticated
def quote_list(request: HttpRequest) -> HttpResponse:
    f = QuoteFilter(request.GET, user=request.user)
    page = paginate(request, selectors.quote_list(user=request.user, filters=request.GET))
    _mark(page.object_list)
    without_customer = request.GET.copy()
    for name in ("customer", "page"):
        without_customer.pop(name, None)
    customer_pk = f.valid_data.get("customer")
    filter_customer = (
        Customer.objects.visible_to(request.user).filter(pk=customer_pk).only("id", "legal_name").first()
        if customer_pk
        else None
    )
    return render(
        request,
        "sales/quotes/quote_list.html",
        {
            "filter": f,
            "page": page,
            "sorts": f.sort_links(request),
            "query": page.querystring,
            "filter_customer": filter_customer,
            "clear_customer_url": f"?{without_customer.urlencode()}",
        },
    )


def _export_rows(request: HttpRequest) -> tuple[list[str], Iterator[list[Any]], int]:
    qs = selectors.quote_list(user=request.user, filters=request.GET)[:EXPORT_CAP]
    header = [
        _("Quote"),
        _("Revision"),
        _("Status"),
        _("Customer"),
        _("Opportunity"),
        _("Made on"),
        _("Valid until"),
        _("Currency"),
        _("Total at list price"),
        _("Total"),
        _("Largest line discount (%)"),
        _("Allowed without approval (%)"),
        _("Tier"),
        _("Credit exposure"),
        _("Credit limit"),
        _("Over the credit limit"),
        _("Sent"),
        _("Contract"),
    ]
    count = qs.count()

    def rows() -> Iterator[list[Any]]:
        for q in qs.iterator(chunk_size=2000):
            credit = q.credit or {}
            yield [
                q.number,
                q.revision,
                q.get_status_display(),
                q.customer.legal_name,
                q.opportunity.name,
                timezone.localtime(q.created_at).date().isoformat(),
                q.valid_until.isoformat(),
                q.currency,
                q.list_total,
                q.net_total,
                q.discount_pct,
                q.max_discount_pct,
                q.tier,
                credit.get("exposure", ""),
                credit.get("limit") or "",
                _("Yes") if credit.get("over") else "",
                timezone.localtime(q.sent_at).strftime("%Y-%m-%d %H:%M") if q.sent_at else "",
                contract_number(q),
            ]

    return header, rows(), count


def contract_number(q: Quote) -> str:
    return services.contract_number_for(q) if q.contract_id else ""


@access.authenticated
def quote_export(request: HttpRequest) -> HttpResponse:
    """The current filtered list as CSV (UTF-8 with BOM for Excel), streamed, scoped and capped."""
    header, rows, count = _export_rows(request)
    audit_record(
        actor=request.user,
        action="action",
        verb=AUDIT_VERB_EXPORT,
        object_repr=_("Quote export"),
        extra={"format": "csv", "rows": count, "filters": request.GET.urlencode()[:1000]},
    )
    return csv_response("quotes", header, rows)


# --- new quote ---------------------------------------------------------------------------------------------


def _opportunity_for_quote(request: HttpRequest, pk: Any) -> Opportunity | None:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        return None
    return (
        Opportunity.objects.visible_to(request.user, CHANGE)
        .select_related("customer", "product_line")
        .filter(pk=pk)
        .first()
    )


@access.authenticated
def quote_create(request: HttpRequest) -> HttpResponse:
    """A new quote from an opportunity (``?opportunity=<id>``); without one, choose the opportunity first."""
    data = request.POST if request.method == "POST" else None
    opp_pk = (data or request.GET).get("opportunity")
    opportunity = _opportunity_for_quote(request, opp_pk) if opp_pk else None
    if opportunity is None:
        q = (request.GET.get("q") or "").strip()[:100]
        candidates = (
            Opportunity.objects.visible_to(request.user, CHANGE)
            .filter(status=OpportunityStatus.OPEN)
            .select_related("customer")
            .order_by("-updated_at", "-id")
        )
        if q:
            candidates = candidates.filter(
                Q(number__icontains=q) | Q(name__icontains=q) | Q(customer__legal_name__icontains=q)
            )
        return render(
            request,
            "sales/quotes/quote_choose.html",
            {"candidates": list(candidates[:20]), "q": q, "asked": bool(opp_pk)},
            status=404 if opp_pk else 200,
        )
    form = QuoteCreateForm(data, initial={"opportunity": opportunity.pk})
    if data is not None and form.is_valid() and opportunity.is_open:
        d = form.cleaned_data
        try:
            quote = services.quote_create(
                actor=request.user,
                opportunity=opportunity,
                valid_until=d["valid_until"],
                language=d["language"],
                payment_terms_days=d["payment_terms_days"],
                delivery_terms=d["delivery_terms"],
                notes=d["notes"],
            )
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(
                request,
                _("Quote %(quote)s created. Check the prices and discounts, then submit it.")
                % {"quote": quote},
            )
            return redirect("sales_quote_detail", quote.pk)
    lines = services.opportunity_lines_for_quote(opportunity)
    return render(
        request,
        "sales/quotes/quote_form.html",
        {"form": form, "opportunity": opportunity, "lines": lines},
        status=400 if data is not None else 200,
    )


# --- the quote page ----------------------------------------------------------------------------------------


def _products_for(quote: Quote, chosen: set[int]) -> list[Product]:
    """Products offered in the lines editor: the opportunity's product line, and any already on the quote."""
    return list(
        Product.objects.filter(
            Q(product_line_id=quote.opportunity.product_line_id, is_active=True) | Q(pk__in=chosen)
        )
        .only("id", "code", "name", "unit", "list_price", "kind")
        .order_by("kind", "code")
    )


def _saved_rows(quote: Quote, limit: Decimal) -> list[dict[str, Any]]:
    rows = []
    for i, ln in enumerate(selectors.quote_lines(quote)):
        rows.append(
            {
                "index": i,
                "product": ln.product,
                "product_id": ln.product_id,
                "description": ln.description,
                "quantity": ln.quantity,
                "unit": ln.unit,
                "list_price": ln.list_price,
                "discount_pct": ln.discount_pct,
                "net_price": ln.net_price,
                "amount": ln.amount,
                "over": ln.discount_pct > limit,
                "errors": [],
            }
        )
    return rows


def _posted_rows(
    posted: list[dict[str, Any]], limit: Decimal, errors: dict[int, list[str]] | None = None
) -> tuple[list[dict[str, Any]], dict[str, Decimal]]:
    """The editor's rows as typed, each priced on its own when it is valid; and the totals of the valid ones."""
    rows = []
    totals = {"list_total": Decimal("0"), "net_total": Decimal("0"), "discount_pct": Decimal("0")}
    for i, raw in enumerate(posted):
        row: dict[str, Any] = {
            "index": i,
            "product_id": int(raw["product"]) if str(raw.get("product") or "").isdigit() else None,
            "description": raw.get("description", ""),
            "quantity": raw.get("quantity", ""),
            "unit": raw.get("unit", ""),
            "list_price": raw.get("list_price", ""),
            "discount_pct": raw.get("discount_pct", ""),
            "net_price": None,
            "amount": None,
            "over": False,
            "errors": list((errors or {}).get(i, [])),
        }
        if is_blank_line(raw):
            rows.append(row)
            continue
        try:
            priced = services.lines_clean([raw], first=i)[0]
        except ValidationError as e:
            if not row["errors"]:
                row["errors"] = e.messages
        else:
            row.update(
                net_price=priced["net_price"], amount=priced["amount"], over=priced["discount_pct"] > limit
            )
            if not raw.get("list_price"):
                row["list_price"] = priced["list_price"]
            totals["list_total"] += services.money(priced["list_price"] * priced["quantity"])
            totals["net_total"] += priced["amount"]
            totals["discount_pct"] = max(totals["discount_pct"], priced["discount_pct"])
        rows.append(row)
    return rows, totals


def _context(request: HttpRequest, quote: Quote, **extra: Any) -> dict[str, Any]:
    can_change = services.can_change(request.user, quote)
    editable = can_change and quote.status == QuoteStatus.DRAFT
    limit = Decimal(quote.max_discount_pct or 0)
    rows = extra.pop("rows", None)
    totals = extra.pop("totals", None)
    if rows is None:
        rows = _saved_rows(quote, limit)
    if totals is None:
        totals = {
            "list_total": quote.list_total,
            "net_total": quote.net_total,
            "discount_pct": quote.discount_pct,
        }
    totals["overall"] = services.overall_discount(totals["list_total"], totals["net_total"])
    totals["discount_amount"] = -(totals["list_total"] - totals["net_total"])
    over = totals["discount_pct"] > limit
    credit = extra.pop("credit", None) or selectors.credit_figures(quote.credit)
    latest = services.is_latest(quote)
    status = quote.status
    ctx: dict[str, Any] = {
        "quote": quote,
        "badge": STATUS_BADGES.get(status, "text-bg-light border"),
        "rows": rows,
        "totals": totals,
        "limit": limit,
        "over": over,
        "hint": selectors.approval_hint(quote)
        if over and status in (QuoteStatus.DRAFT, QuoteStatus.PENDING)
        else "",
        "credit": credit,
        "can_change": can_change,
        "editable": editable,
        "products": _products_for(quote, {r["product_id"] for r in rows if r.get("product_id")})
        if editable
        else [],
        "revisions": selectors.quote_revisions(quote, user=request.user),
        "can_submit": editable and latest,
        "can_withdraw": can_change
        and status == QuoteStatus.PENDING
        and quote.approval is not None
        and quote.approval.requester_id == request.user.pk,
        "can_send": can_change and status == QuoteStatus.APPROVED,
        "can_decide": can_change and status in (QuoteStatus.APPROVED, QuoteStatus.SENT),
        "can_revise": can_change and status in services.REVISABLE and latest,
        "opportunity_open": quote.opportunity.status == OpportunityStatus.OPEN,
        "header_form": extra.pop("header_form", None)
        or (
            QuoteHeaderForm(
                initial={
                    "valid_until": quote.valid_until,
                    "language": quote.language,
                    "payment_terms_days": quote.payment_terms_days,
                    "delivery_terms": quote.delivery_terms,
                    "notes": quote.notes,
                }
            )
            if editable
            else None
        ),
        "submit_form": extra.pop("submit_form", None) or SubmitForm(),
        "accept_form": extra.pop("accept_form", None) or AcceptForm(),
        "reject_form": extra.pop("reject_form", None) or RejectForm(),
        "language_label": {"zh-hans": _("Chinese"), "en": _("English")}.get(quote.language, quote.language),
    }
    ctx.update(extra)
    return ctx


@access.authenticated
def quote_detail(request: HttpRequest, pk: int) -> HttpResponse:
    quote = selectors.quote_get(user=request.user, pk=pk)
    return render(request, "sales/quotes/quote_detail.html", _context(request, quote))


def _page_with_errors(request: HttpRequest, quote: Quote, errors: list[str], **extra: Any) -> HttpResponse:
    ctx = _context(request, quote, **extra)
    ctx["action_errors"] = errors
    return render(request, "sales/quotes/quote_detail.html", ctx, status=400)


@access.authenticated
@require_POST
def quote_lines(request: HttpRequest, pk: int) -> HttpResponse:
    """The lines editor: ``action=preview`` prices what is typed (nothing saved), ``add`` adds an empty row,
    ``save`` (default) replaces the draft's lines through the service."""
    quote = selectors.quote_get(user=request.user, pk=pk)
    if not services.can_change(request.user, quote):
        raise PermissionDenied(services.ERR_FORBIDDEN)
    action = request.POST.get("action", "save")
    products = {p.pk: p for p in _products_for(quote, set())}
    posted = lines_from_post(request.POST, products=products, keep_blank=action != "save")
    limit = Decimal(quote.max_discount_pct or 0)
    saved = False
    errors: dict[int, list[str]] = {}
    general: list[str] = []
    if action == "save":
        try:
            quote = services.quote_lines_set(actor=request.user, quote=quote, lines=posted)
        except ValidationError as e:
            errors, general = line_errors(e)
        else:
            saved = True
            quote = selectors.quote_get(user=request.user, pk=pk)
    if saved:
        ctx = _context(request, quote)
    else:
        if action == "add":
            posted.append(
                {
                    "product": "",
                    "description": "",
                    "quantity": "1",
                    "unit": "",
                    "list_price": "",
                    "discount_pct": "0",
                }
            )
        rows, totals = _posted_rows(posted, limit, errors)
        preview_credit = selectors.credit_figures(services.credit_check(quote.customer, totals["net_total"]))
        ctx = _context(request, quote, rows=rows, totals=totals, credit=preview_credit)
        ctx["unsaved"] = True
    ctx.update(saved=saved, line_general_errors=general, oob=True)
    if _is_htmx(request):
        return render(request, "sales/quotes/quote_detail.html#pricing", ctx)
    if saved:
        messages.success(request, _("The quote's lines were saved."))
        return redirect("sales_quote_detail", quote.pk)
    return render(request, "sales/quotes/quote_detail.html", ctx, status=400 if action == "save" else 200)


@access.authenticated
@require_POST
def quote_header(request: HttpRequest, pk: int) -> HttpResponse:
    quote = selectors.quote_get(user=request.user, pk=pk)
    form = QuoteHeaderForm(request.POST)
    if form.is_valid():
        d = form.cleaned_data
        try:
            services.quote_update(
                actor=request.user,
                quote=quote,
                valid_until=d["valid_until"],
                language=d["language"],
                payment_terms_days=d["payment_terms_days"],
                delivery_terms=d["delivery_terms"],
                notes=d["notes"],
            )
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(request, _("The quote's terms were saved."))
            return redirect("sales_quote_detail", quote.pk)
    return _page_with_errors(request, quote, [], header_form=form)


def _run(request: HttpRequest, pk: int, action: Any, success: Any, **form_ctx: Any) -> HttpResponse:
    """Run one state change; a refused one shows the page again with the reason. ``success`` is the message
    (``%(quote)s`` is the quote) or a function of the changed quote giving it."""
    quote = selectors.quote_get(user=request.user, pk=pk)
    try:
        result = action(quote)
    except StageGateBlocked as e:
        items = ", ".join(str(m) for m in e.missing)
        return _page_with_errors(
            request,
            quote,
            [
                _(
                    "The opportunity cannot be closed won yet: required items are missing (%(items)s). Complete its "
                    "checklist, or ask your manager to approve the move on the opportunity page."
                )
                % {"items": items}
            ],
            **form_ctx,
        )
    except ValidationError as e:
        return _page_with_errors(request, quote, e.messages, **form_ctx)
    text = success(result) if callable(success) else success % {"quote": result}
    messages.success(request, text)
    return redirect("sales_quote_detail", result.pk)


@access.authenticated
@require_POST
def quote_submit(request: HttpRequest, pk: int) -> HttpResponse:
    form = SubmitForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""

    def said(quote: Quote) -> str:
        if quote.status == QuoteStatus.PENDING:
            return _("The discount is above the tier limit: the quote was sent for approval.")
        return _("The quote is approved: the discount is within the tier limit. You can send it.")

    return _run(
        request, pk, lambda q: services.quote_submit(actor=request.user, quote=q, reason=reason), said
    )


@access.authenticated
@require_POST
def quote_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    return _run(
        request,
        pk,
        lambda q: services.quote_withdraw(actor=request.user, quote=q),
        _("The approval request was withdrawn: %(quote)s is a draft again."),
    )


@access.authenticated
@require_POST
def quote_send(request: HttpRequest, pk: int) -> HttpResponse:
    return _run(
        request,
        pk,
        lambda q: services.quote_send(actor=request.user, quote=q),
        _("%(quote)s is marked as sent to the customer."),
    )


@access.authenticated
@require_POST
def quote_accept(request: HttpRequest, pk: int) -> HttpResponse:
    form = AcceptForm(request.POST)
    if not form.is_valid():
        quote = selectors.quote_get(user=request.user, pk=pk)
        return _page_with_errors(request, quote, [], accept_form=form)
    d = form.cleaned_data
    return _run(
        request,
        pk,
        lambda q: services.quote_accept(
            actor=request.user, quote=q, signed_on=d["signed_on"], reason=d["reason"]
        ),
        _("%(quote)s accepted: the contract is signed and the opportunity is won."),
        accept_form=form,
    )


@access.authenticated
@require_POST
def quote_reject(request: HttpRequest, pk: int) -> HttpResponse:
    form = RejectForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    return _run(
        request,
        pk,
        lambda q: services.quote_reject(actor=request.user, quote=q, reason=reason),
        _("%(quote)s is marked as turned down by the customer. Revise it or close the opportunity."),
    )


@access.authenticated
@require_POST
def quote_revise(request: HttpRequest, pk: int) -> HttpResponse:
    return _run(
        request,
        pk,
        lambda q: services.quote_revise(actor=request.user, quote=q),
        _("Revision %(quote)s created as a draft: change it and submit it again."),
    )


@access.authenticated
def quote_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    quote = selectors.quote_get(user=request.user, pk=pk)
    try:
        pdf = quote_pdf_render(quote, selectors.quote_lines(quote))
    except CJKFontMissing as e:
        messages.error(request, str(e))
        return redirect("sales_quote_detail", quote.pk)
    response = HttpResponse(pdf, content_type="application/pdf")
    disposition = "inline" if request.GET.get("inline") else "attachment"
    response["Content-Disposition"] = f'{disposition}; filename="{quote_pdf_filename(quote)}"'
    return response


# --- sections of other pages (registered in registrations/quotes.py) -------------------------------------


def opportunity_section(request: HttpRequest, opportunity: Opportunity) -> dict[str, Any]:
    """The opportunity page's quotes, the latest one's credit warning, and the button to make one."""
    quotes = selectors.quotes_for_opportunity(user=request.user, opportunity=opportunity)
    _mark(quotes)
    current = next((q for q in quotes if q.status != QuoteStatus.SUPERSEDED), None)
    return {
        "quotes": quotes,
        "current": current,
        "credit": selectors.credit_figures(current.credit) if current else None,
        "can_quote": opportunity.status == OpportunityStatus.OPEN
        and Opportunity.objects.visible_to(request.user, CHANGE).filter(pk=opportunity.pk).exists(),
    }


def customer_section(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    quotes = selectors.quotes_for_customer(user=request.user, customer=customer, limit=SECTION_LIMIT)
    if not quotes:
        return {"hidden": True}
    _mark(quotes)
    return {"quotes": quotes[:SECTION_LIMIT], "more": len(quotes) > SECTION_LIMIT}
