"""Framework agreement pages: the list (filters, search, sort, cards on a phone, CSV export), a new
agreement for a customer, the agreement page (terms, the plan-vs-actual table and chart, editing the planned
quantities, putting it in force and ending it), and the customer page's "Framework agreements" section.

Reads go through ``selectors.agreements`` (scoped through the customer; out of scope is 404), writes
through ``services.agreements`` (audited).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import get_language
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
    AgreementCreateForm,
    AgreementFilter,
    AgreementForm,
    PlanLineForm,
    apply_service_error,
)
from steelyard.sales.models import AgreementStatus, FrameworkAgreement
from steelyard.sales.selectors import agreements as selectors
from steelyard.sales.services import agreements as services

EXPORT_CAP = 100_000
AUDIT_VERB_EXPORT = "sales.agreement_export"
SECTION_LIMIT = 5

STATUS_BADGES = {
    AgreementStatus.DRAFT: "text-bg-light border",
    AgreementStatus.ACTIVE: "text-bg-success",
    AgreementStatus.ENDED: "text-bg-secondary",
}


def _mark(rows: Any) -> None:
    for a in rows:
        a.badge = STATUS_BADGES.get(a.status, "text-bg-light border")


# --- list and export ---------------------------------------------------------------------------------------


@access.authenticated
def agreement_list(request: HttpRequest) -> HttpResponse:
    f = AgreementFilter(request.GET, user=request.user)
    page = paginate(request, selectors.agreement_list(user=request.user, filters=request.GET))
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
        "sales/agreements/agreement_list.html",
        {
            "filter": f,
            "page": page,
            "sorts": f.sort_links(request),
            "query": page.querystring,
            "filter_customer": filter_customer,
            "clear_customer_url": f"?{without_customer.urlencode()}",
        },
    )


@access.authenticated
def agreement_export(request: HttpRequest) -> HttpResponse:
    """The current filtered list as CSV (UTF-8 with BOM), streamed, scoped and capped."""
    qs = selectors.agreement_list(user=request.user, filters=request.GET)[:EXPORT_CAP]
    count = qs.count()
    audit_record(
        actor=request.user,
        action="action",
        verb=AUDIT_VERB_EXPORT,
        object_repr=_("Framework agreement export"),
        extra={"format": "csv", "rows": count, "filters": request.GET.urlencode()[:1000]},
    )
    header = [
        _("Agreement"),
        _("Title"),
        _("Customer"),
        _("Status"),
        _("Planned per"),
        _("Starts on"),
        _("Ends on"),
        _("Contract"),
    ]

    def rows() -> Iterator[list[Any]]:
        for a in qs.iterator(chunk_size=2000):
            yield (
                [
                    a.number,
                    a.title,
                    a.customer.legal_name,
                    a.get_status_display(),
                    a.get_period_display(),
                    a.starts_on.isoformat(),
                    a.ends_on.isoformat(),
                    a.contract.number if a.contract_id else "",
                ]
            )

    return csv_response("agreements", header, rows())


# --- create and edit ---------------------------------------------------------------------------------------


def _customer_for(request: HttpRequest, pk: Any) -> Customer | None:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        return None
    return Customer.objects.visible_to(request.user, CHANGE).filter(pk=pk).first()


@access.authenticated
def agreement_create(request: HttpRequest) -> HttpResponse:
    """A new agreement for ``?customer=<id>`` (a customer the user may change); without one, choose first."""
    data = request.POST if request.method == "POST" else None
    customer_pk = (data or request.GET).get("customer")
    customer = _customer_for(request, customer_pk) if customer_pk else None
    if customer is None:
        q = (request.GET.get("q") or "").strip()[:100]
        candidates = Customer.objects.visible_to(request.user, CHANGE).order_by("legal_name")
        if q:
            candidates = candidates.filter(legal_name__icontains=q)
        return render(
            request,
            "sales/agreements/agreement_choose.html",
            {"candidates": list(candidates.only("id", "legal_name")[:20]), "q": q},
            status=404 if customer_pk else 200,
        )
    today = timezone.localdate()
    form = AgreementCreateForm(
        data,
        initial={
            "customer": customer.pk,
            "period": "quarter",
            "starts_on": today.replace(day=1),
            "ends_on": today.replace(year=today.year + 1, day=1) - dt.timedelta(days=1),
        },
    )
    if data is not None and form.is_valid():
        d = form.cleaned_data
        try:
            agreement = services.agreement_create(
                actor=request.user,
                customer=customer,
                title=d["title"],
                number=d["number"],
                period=d["period"],
                starts_on=d["starts_on"],
                ends_on=d["ends_on"],
                notes=d["notes"],
            )
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(
                request,
                _("Agreement %(number)s created: now plan the quantities.") % {"number": agreement.number},
            )
            return redirect("sales_agreement_detail", agreement.pk)
    return render(
        request,
        "sales/agreements/agreement_form.html",
        {"form": form, "customer": customer},
        status=400 if data is not None else 200,
    )


def _chart_text() -> dict[str, str]:
    return {"planned": _("Planned quantity"), "actual": _("Ordered quantity"), "quantity": _("Quantity")}


def _context(request: HttpRequest, agreement: FrameworkAgreement, **extra: Any) -> dict[str, Any]:
    can_change = services.can_change(request.user, agreement)
    editable = can_change and agreement.status != AgreementStatus.ENDED
    pva = selectors.agreement_plan_vs_actual(agreement)
    chart = {
        **pva.chart(),
        "text": _chart_text(),
        "locale": "EN" if (get_language() or "").startswith("en") else "ZH",
    }
    products = (
        Product.objects.filter(is_active=True).only("id", "code", "name").order_by("product_line", "code")
    )
    ctx: dict[str, Any] = {
        "agreement": agreement,
        "badge": STATUS_BADGES.get(agreement.status, "text-bg-light border"),
        "pva": pva,
        "chart": chart,
        "can_change": can_change,
        "editable": editable,
        "edit_form": extra.pop("edit_form", None)
        or (
            AgreementForm(
                initial={
                    "title": agreement.title,
                    "number": agreement.number,
                    "period": agreement.period,
                    "starts_on": agreement.starts_on,
                    "ends_on": agreement.ends_on,
                    "notes": agreement.notes,
                }
            )
            if editable
            else None
        ),
        "plan_form": extra.pop("plan_form", None)
        or (
            PlanLineForm(products=products, initial={"period_start": agreement.starts_on})
            if editable
            else None
        ),
    }
    ctx.update(extra)
    return ctx


@access.authenticated
def agreement_detail(request: HttpRequest, pk: int) -> HttpResponse:
    agreement = selectors.agreement_get(user=request.user, pk=pk)
    return render(request, "sales/agreements/agreement_detail.html", _context(request, agreement))


def _errors_page(
    request: HttpRequest, agreement: FrameworkAgreement, errors: list[str], **extra: Any
) -> HttpResponse:
    ctx = _context(request, agreement, **extra)
    ctx["action_errors"] = errors
    return render(request, "sales/agreements/agreement_detail.html", ctx, status=400)


@access.authenticated
@require_POST
def agreement_edit(request: HttpRequest, pk: int) -> HttpResponse:
    agreement = selectors.agreement_get(user=request.user, pk=pk)
    form = AgreementForm(request.POST)
    if form.is_valid():
        d = form.cleaned_data
        try:
            services.agreement_update(
                actor=request.user,
                agreement=agreement,
                title=d["title"],
                number=d["number"],
                period=d["period"],
                starts_on=d["starts_on"],
                ends_on=d["ends_on"],
                notes=d["notes"],
            )
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(request, _("The agreement's terms were saved."))
            return redirect("sales_agreement_detail", agreement.pk)
    return _errors_page(request, agreement, [], edit_form=form)


@access.authenticated
@require_POST
def agreement_plan(request: HttpRequest, pk: int) -> HttpResponse:
    """Planned quantities: the grid (``plan-<product>-<period>`` inputs, saved together) or one new cell
    (``product``, ``period_start``, ``planned_quantity``). 0 or empty removes a cell."""
    agreement = selectors.agreement_get(user=request.user, pk=pk)
    if not services.can_change(request.user, agreement):
        raise PermissionDenied(services.ERR_FORBIDDEN)
    lines: list[dict[str, Any]] = []
    plan_form = None
    if request.POST.get("action") == "add":
        products = Product.objects.filter(is_active=True).only("id", "code", "name")
        plan_form = PlanLineForm(request.POST, products=products)
        if not plan_form.is_valid():
            return _errors_page(request, agreement, [], plan_form=plan_form)
        d = plan_form.cleaned_data
        lines.append(
            {
                "product": d["product"],
                "period_start": d["period_start"],
                "planned_quantity": d["planned_quantity"],
            }
        )
    else:
        for key, value in request.POST.items():
            parts = key.split("-")
            if len(parts) != 5 or parts[0] != "plan":  # plan-<product>-<yyyy>-<mm>-<dd>
                continue
            lines.append(
                {"product": parts[1], "period_start": "-".join(parts[2:]), "planned_quantity": value}
            )
    try:
        services.agreement_lines_set(actor=request.user, agreement=agreement, lines=lines)
    except ValidationError as e:
        texts = [
            m
            for msgs in (e.message_dict.values() if hasattr(e, "error_dict") else [e.messages])
            for m in msgs
        ]
        return _errors_page(request, agreement, texts, **({"plan_form": plan_form} if plan_form else {}))
    messages.success(request, _("The planned quantities were saved."))
    return redirect(f"{agreement.get_absolute_url()}#plan")


def _run(request: HttpRequest, pk: int, action: Any, success: str) -> HttpResponse:
    agreement = selectors.agreement_get(user=request.user, pk=pk)
    try:
        action(agreement)
    except ValidationError as e:
        return _errors_page(request, agreement, e.messages)
    messages.success(request, success)
    return redirect("sales_agreement_detail", agreement.pk)


@access.authenticated
@require_POST
def agreement_activate(request: HttpRequest, pk: int) -> HttpResponse:
    return _run(
        request,
        pk,
        lambda a: services.agreement_activate(actor=request.user, agreement=a),
        _("The agreement is in force."),
    )


@access.authenticated
@require_POST
def agreement_end(request: HttpRequest, pk: int) -> HttpResponse:
    return _run(
        request,
        pk,
        lambda a: services.agreement_end(actor=request.user, agreement=a),
        _("The agreement has ended. Its plan and orders stay here for reference."),
    )


# --- the customer page's section ---------------------------------------------------------------------------


def customer_section(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    rows = selectors.agreements_for_customer(user=request.user, customer=customer, limit=SECTION_LIMIT)
    can_add = Customer.objects.visible_to(request.user, CHANGE).filter(pk=customer.pk).exists()
    if not rows and not can_add:
        return {"hidden": True}
    _mark(rows)
    return {"agreements": rows[:SECTION_LIMIT], "more": len(rows) > SECTION_LIMIT, "can_add": can_add}
