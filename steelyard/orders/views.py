"""Order-to-cash pages: orders (list, detail with its timeline, the CRM's steps), contracts,
shipments, invoices, payments; and the order-to-cash sections of the customer 360 page.

Reads go through ``steelyard.orders.selectors`` (scoped; out of scope is 404), the one write
through ``steelyard.orders.services.orders`` (audited, via the timeline writer).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from steelyard.core import access
from steelyard.core.filters import paginate
from steelyard.core.registry import registry
from steelyard.customers.models import Customer
from steelyard.orders import selectors
from steelyard.orders.filters import ContractFilter, InvoiceFilter, OrderFilter, PaymentFilter, ShipmentFilter
from steelyard.orders.forms import OrderStatusForm, apply_service_error
from steelyard.orders.models import Contract, Invoice, InvoiceStatus, Payment, SalesOrder, Shipment
from steelyard.orders.services.orders import can_record_status, order_status_add

RECORD_TYPE = "orders.order"
SECTION_LIMIT = 5


def _list_context(request: HttpRequest, f: Any, qs: Any) -> dict[str, Any]:
    page = paginate(request, qs)
    without_customer = request.GET.copy()
    for name in ("customer", "page"):
        without_customer.pop(name, None)
    return {
        "filter": f,
        "page": page,
        "sorts": f.sort_links(request),
        "query": page.querystring,
        "filter_customer": selectors.customer_for_filter(user=request.user, pk=f.valid_data.get("customer")),
        "clear_customer_url": f"?{without_customer.urlencode()}",
    }


# --- orders ---------------------------------------------------------------------------------------


@access.authenticated
def order_list(request: HttpRequest) -> HttpResponse:
    f = OrderFilter(request.GET, user=request.user)
    ctx = _list_context(request, f, selectors.order_list(user=request.user, filters=request.GET))
    return render(request, "orders/order_list.html", ctx)


def _render_sections(request: HttpRequest, order: SalesOrder) -> list[dict[str, Any]]:
    """Each section other modules registered for orders, rendered with its own (scoped) context."""
    out = []
    for section in registry.sections_for(RECORD_TYPE, request.user):
        ctx = section.context(request, order) or {}
        if ctx.get("hidden"):
            continue
        html = render_to_string(
            section.template, {**ctx, "order": order, "record": order, "section": section}, request=request
        )
        out.append({"key": section.key, "label": section.label, "html": html})
    return out


def _detail_context(request: HttpRequest, pk: Any, form: OrderStatusForm | None = None) -> dict[str, Any]:
    detail = selectors.order_detail(user=request.user, pk=pk)
    mark_invoices(detail.invoices)
    can_record = can_record_status(request.user, detail.order)
    return {
        "d": detail,
        "order": detail.order,
        "can_record": can_record,
        "status_form": (form or OrderStatusForm()) if can_record else None,
    }


@access.authenticated
def order_detail(request: HttpRequest, pk: int) -> HttpResponse:
    ctx = _detail_context(request, pk)
    ctx["sections"] = _render_sections(request, ctx["order"])
    return render(request, "orders/order_detail.html", ctx)


@access.authenticated
@require_POST
def order_status_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Record a CRM step (delivered, installed, accepted); htmx gets the timeline block back."""
    order = selectors.order_get(user=request.user, pk=pk)
    if not can_record_status(request.user, order):
        raise PermissionDenied(_("You may not change this customer's orders."))
    form = OrderStatusForm(request.POST)
    saved = False
    if form.is_valid():
        try:
            order_status_add(
                actor=request.user,
                order=order,
                status=form.cleaned_data["status"],
                at=form.cleaned_data["at"],
                note=form.cleaned_data["note"],
            )
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            saved = True
    if request.headers.get("HX-Request"):
        ctx = _detail_context(request, pk, None if saved else form)
        ctx["saved"] = saved
        ctx["oob"] = True
        return render(request, "orders/order_detail.html#timeline", ctx)
    if saved:
        messages.success(request, _("The step was added to the order's timeline."))
        return redirect("order_detail", pk)
    ctx = _detail_context(request, pk, form)
    ctx["sections"] = _render_sections(request, ctx["order"])
    return render(request, "orders/order_detail.html", ctx, status=400)


# --- contracts ------------------------------------------------------------------------------------


@access.authenticated
def contract_list(request: HttpRequest) -> HttpResponse:
    f = ContractFilter(request.GET, user=request.user)
    ctx = _list_context(request, f, selectors.contract_list(user=request.user, filters=request.GET))
    return render(request, "orders/contract_list.html", ctx)


@access.authenticated
def contract_detail(request: HttpRequest, pk: int) -> HttpResponse:
    contract = selectors.contract_get(user=request.user, pk=pk)
    orders = list(
        selectors.order_list(user=request.user, filters={})
        .filter(contract=contract)
        .order_by("-ordered_on", "-id")[:50]
    )
    invoices = list(
        selectors.invoice_list(user=request.user, filters={})
        .filter(contract=contract)
        .order_by("-issued_on", "-id")[:50]
    )
    return render(
        request, "orders/contract_detail.html", {"contract": contract, "orders": orders, "invoices": invoices}
    )


# --- shipments, invoices, payments ----------------------------------------------------------------


@access.authenticated
def shipment_list(request: HttpRequest) -> HttpResponse:
    f = ShipmentFilter(request.GET, user=request.user)
    ctx = _list_context(request, f, selectors.shipment_list(user=request.user, filters=request.GET))
    return render(request, "orders/shipment_list.html", ctx)


@access.authenticated
def invoice_list(request: HttpRequest) -> HttpResponse:
    f = InvoiceFilter(request.GET, user=request.user)
    ctx = _list_context(request, f, selectors.invoice_list(user=request.user, filters=request.GET))
    mark_invoices(ctx["page"])
    return render(request, "orders/invoice_list.html", ctx)


@access.authenticated
def payment_list(request: HttpRequest) -> HttpResponse:
    f = PaymentFilter(request.GET, user=request.user)
    ctx = _list_context(request, f, selectors.payment_list(user=request.user, filters=request.GET))
    return render(request, "orders/payment_list.html", ctx)


def mark_invoices(invoices: Any) -> None:
    """Flag each shown invoice (already annotated with ``paid``) as fully paid and/or overdue."""
    today = timezone.localdate()
    for i in invoices:
        i.fully_paid = i.status == InvoiceStatus.ISSUED and i.paid >= i.amount
        i.overdue = i.status == InvoiceStatus.ISSUED and not i.fully_paid and i.due_on < today


# --- customer 360 sections (registered in registrations.py) ---------------------------------------


def _scoped(request: HttpRequest, model: type) -> Any:
    """The scoped queryset of ``model`` (see ``selectors.o2c_scoped``), the scope resolved once per request."""
    scoped = request.__dict__.get("_orders_scoped")
    if scoped is None:
        scoped = request._orders_scoped = selectors.o2c_scoped(user=request.user)  # type: ignore[attr-defined]
    return scoped(model)


def balances_section(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    try:
        balances = selectors.customer_balances(user=request.user, customer=customer)
    except Http404:
        return {"hidden": True}
    if not any(balances.as_dict().values()):
        return {"hidden": True}
    return {"b": balances}


def orders_section(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    rows = list(
        _scoped(request, SalesOrder)
        .filter(customer=customer)
        .order_by("-ordered_on", "-id")[: SECTION_LIMIT + 1]
    )
    return {"orders": rows[:SECTION_LIMIT], "more": len(rows) > SECTION_LIMIT}


def contracts_section(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    rows = list(
        _scoped(request, Contract)
        .filter(customer=customer)
        .order_by("-signed_on", "-id")[: SECTION_LIMIT + 1]
    )
    if not rows:
        return {"hidden": True}
    return {"contracts": rows[:SECTION_LIMIT], "more": len(rows) > SECTION_LIMIT}


def shipments_section(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    rows = list(
        _scoped(request, Shipment)
        .filter(customer=customer)
        .select_related("order")
        .order_by("-shipped_on", "-id")[: SECTION_LIMIT + 1]
    )
    if not rows:
        return {"hidden": True}
    return {"shipments": rows[:SECTION_LIMIT], "more": len(rows) > SECTION_LIMIT}


def invoices_section(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    rows = list(
        _scoped(request, Invoice)
        .filter(customer=customer)
        .annotate(paid=selectors.paid_amount())
        .order_by("-issued_on", "-id")[: SECTION_LIMIT + 1]
    )
    if not rows:
        return {"hidden": True}
    mark_invoices(rows)
    return {"invoices": rows[:SECTION_LIMIT], "more": len(rows) > SECTION_LIMIT}


def payments_section(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    rows = list(
        _scoped(request, Payment)
        .filter(customer=customer)
        .select_related("invoice")
        .order_by("-received_on", "-id")[: SECTION_LIMIT + 1]
    )
    if not rows:
        return {"hidden": True}
    return {"payments": rows[:SECTION_LIMIT], "more": len(rows) > SECTION_LIMIT}


# --- home widget ------------------------------------------------------------------------------------


def home_widget_context(request: HttpRequest) -> dict[str, Any]:
    """Nothing to read here: the card fetches its rows with :func:`order_home_widget` once shown."""
    return {}


@access.authenticated
def order_home_widget(request: HttpRequest) -> HttpResponse:
    """The rows of the home card: orders of the user's customers (their team's, for managers)
    whose status moved in the last two weeks, newest change first."""
    rows = selectors.order_recent_status(user=request.user, days=14, limit=8)
    return render(request, "orders/home_widget.html#rows", {"rows": rows, "loaded": True})
