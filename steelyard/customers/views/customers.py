"""Customer pages: the list (filters, saved views, export), the 360 page, create/edit, contacts, merge.

Reads go through ``steelyard.customers.selectors.customers`` (scoped; out of scope is 404),
writes through ``steelyard.customers.services.customers`` (audited).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from steelyard.core import access
from steelyard.core.exports import csv_response
from steelyard.core.filters import paginate
from steelyard.core.registry import registry
from steelyard.core.scopes import CHANGE
from steelyard.core.selectors.audit import audit_for_object
from steelyard.core.services.audit import audit_record
from steelyard.customers.filters import CustomerFilter
from steelyard.customers.forms import ContactForm, CustomerForm, MergeForm, SavedViewForm, apply_service_error
from steelyard.customers.models import Customer, SavedView
from steelyard.customers.selectors import customers as selectors
from steelyard.customers.services import customers as services

RECORD_TYPE = "customers.customer"
EXPORT_CAP = 100_000
AUDIT_VERB_EXPORT = "customers.export"


# --- list ---------------------------------------------------------------------------------------


@access.authenticated
def customer_list(request: HttpRequest) -> HttpResponse:
    f = CustomerFilter(request.GET, user=request.user)
    page = paginate(request, selectors.customer_list(user=request.user, filters=request.GET))
    views = list(selectors.saved_views(user=request.user))
    query = page.querystring
    return render(
        request,
        "customers/customer_list.html",
        {
            "filter": f,
            "page": page,
            "sorts": f.sort_links(request),
            "saved_views": views,
            "view_form": SavedViewForm(initial={"query": query}),
            "query": query,
            "today": timezone.localdate(),
        },
    )


@access.authenticated
@require_POST
def saved_view_create(request: HttpRequest) -> HttpResponse:
    form = SavedViewForm(request.POST)
    if form.is_valid():
        try:
            view = services.saved_view_create(
                actor=request.user,
                list_key=selectors.LIST_KEY,
                name=form.cleaned_data["name"],
                query=form.cleaned_data["query"],
                is_shared=form.cleaned_data["is_shared"],
            )
        except ValidationError as e:
            messages.error(request, " ".join(e.messages))
        else:
            messages.success(request, _("View “%(name)s” saved.") % {"name": view.name})
            return redirect(f"{reverse('customer_list')}?{view.query}")
    else:
        messages.error(request, _("Give the view a name."))
    return redirect(f"{reverse('customer_list')}?{form.data.get('query', '')}")


@access.authenticated
@require_POST
def saved_view_delete(request: HttpRequest, pk: int) -> HttpResponse:
    view = get_object_or_404(SavedView, pk=pk, owner=request.user, list_key=selectors.LIST_KEY)
    services.saved_view_delete(actor=request.user, view=view)
    messages.success(request, _("View “%(name)s” deleted.") % {"name": view.name})
    return redirect("customer_list")


# --- export -------------------------------------------------------------------------------------


def _export_rows(request: HttpRequest) -> tuple[list[str], Iterator[list[Any]], int]:
    qs = selectors.customer_list(user=request.user, filters=request.GET)[:EXPORT_CAP]
    header = [
        _("Number"),
        _("Legal name"),
        _("Short name"),
        _("Unified social credit code"),
        _("Industry"),
        _("Province"),
        _("City"),
        _("Status"),
        _("Tier"),
        _("Key account"),
        _("Owner"),
        _("Org unit"),
        _("First order"),
        _("Returns to the pool on"),
        _("Tags"),
        _("Updated"),
    ]
    count = qs.count()

    def rows() -> Iterator[list[Any]]:
        for c in qs.iterator(chunk_size=2000):
            yield [
                c.pk,
                c.legal_name,
                c.short_name,
                c.credit_code,
                c.get_industry_display(),
                c.province,
                c.city,
                c.get_status_display(),
                c.tier,
                _("Yes") if c.is_key_account else "",
                str(c.owner) if c.owner_id else _("Pool"),
                str(c.org_unit) if c.org_unit_id else "",
                c.first_order_date.isoformat() if c.first_order_date else "",
                c.recycle_at.isoformat() if c.recycle_at else "",
                ", ".join(t.name for t in c.tags.all()),
                timezone.localtime(c.updated_at).strftime("%Y-%m-%d %H:%M"),
            ]

    return header, rows(), count


def _audit_export(request: HttpRequest, fmt: str, count: int) -> None:
    audit_record(
        actor=request.user,
        action="action",
        verb=AUDIT_VERB_EXPORT,
        object_repr=_("Customer export"),
        extra={"format": fmt, "rows": count, "filters": request.GET.urlencode()[:1000]},
    )


@access.authenticated
def customer_export_csv(request: HttpRequest) -> HttpResponse:
    """The current filtered list as CSV (UTF-8 with BOM for Excel), streamed, scoped and capped."""
    header, rows, count = _export_rows(request)
    _audit_export(request, "csv", count)
    return csv_response("customers", header, rows)


@access.authenticated
def customer_export_xlsx(request: HttpRequest) -> HttpResponse:
    """The current filtered list as an Excel workbook (openpyxl write-only mode), scoped and capped."""
    from openpyxl import Workbook

    header, rows, count = _export_rows(request)
    _audit_export(request, "xlsx", count)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(_("Customers"))
    ws.append(header)
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    response = HttpResponse(
        buf.getvalue(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = f'attachment; filename="customers-{timezone.localdate():%Y%m%d}.xlsx"'
    return response


# --- the 360 page -------------------------------------------------------------------------------


def _render_sections(request: HttpRequest, customer: Customer) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Each registered section rendered with its own (scoped) context; and the pool clock summary."""
    out = []
    summary: dict[str, Any] = {}
    for section in registry.sections_for(RECORD_TYPE, request.user):
        ctx = section.context(request, customer) or {}
        if ctx.get("hidden"):
            continue
        if section.key == "pool_clock" and ctx.get("summary"):
            summary["pool_clock"] = ctx["summary"]
        html = render_to_string(
            section.template,
            {**ctx, "customer": customer, "record": customer, "section": section},
            request=request,
        )
        out.append({"key": section.key, "label": section.label, "html": html})
    return out, summary


@access.authenticated
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    customer = selectors.customer_get(user=request.user, pk=pk)
    if customer.merged_into_id:
        target = customer.merged_into
        hops = 0
        while target.merged_into_id and hops < 10:
            target = target.merged_into
            hops += 1
        return redirect("customer_detail", target.pk)
    sections, summary = _render_sections(request, customer)
    is_admin = access.user_has_role(request.user, access.ADMINISTRATOR)
    ctx: dict[str, Any] = {
        "customer": customer,
        "sections": sections,
        "summary": summary,
        "can_edit": services.can_change(request.user, customer),
        "can_merge": services.can_merge(request.user),
        "is_admin": is_admin,
    }
    if is_admin:
        ctx["audit_entries"] = audit_for_object(user=request.user, obj=customer, limit=20)
    return render(request, "customers/customer_detail.html", ctx)


# --- section contexts (registered in registrations.py) -----------------------------------------


def profile_section(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    return {
        "group": selectors.customer_group_rollup(customer, user=request.user),
        "tags": list(customer.tags.all()),
    }


def contacts_section(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    return {
        "contacts": list(selectors.contact_list(user=request.user, customer=customer)),
        "can_edit": services.can_change(request.user, customer),
    }


def ownership_section(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    return {"events": selectors.ownership_history(user=request.user, customer=customer)}


# --- create / edit ------------------------------------------------------------------------------


@access.authenticated
def customer_create(request: HttpRequest) -> HttpResponse:
    form = CustomerForm(
        request.POST or None, user=request.user, creating=True, initial={"owner": request.user.pk}
    )
    duplicates: list[Customer] = []
    if request.method == "POST" and form.is_valid():
        data = form.service_fields()
        try:
            customer = services.customer_create(
                actor=request.user,
                owner=form.cleaned_data.get("owner"),
                allow_duplicate=form.cleaned_data.get("allow_duplicate", False),
                tags=form.cleaned_data.get("tags") or (),
                contacts=form.contacts(),
                **data,
            )
        except ValidationError as e:
            if getattr(e, "code", None) == "duplicate":
                duplicates = selectors.customer_duplicates(
                    legal_name=data["legal_name"],
                    credit_code=data["credit_code"],
                    phones=[c["phone"] for c in form.contacts()],
                )
                if not (
                    data["credit_code"] and any(d.credit_code == data["credit_code"] for d in duplicates)
                ):
                    form.offer_duplicate()
            apply_service_error(form, e)
        else:
            messages.success(request, _("Customer “%(name)s” created.") % {"name": customer})
            return redirect("customer_detail", customer.pk)
    return render(
        request,
        "customers/customer_form.html",
        {
            "form": form,
            "title": _("New customer"),
            "duplicates": duplicates,
            "cancel_url": reverse("customer_list"),
        },
    )


@access.authenticated
def customer_edit(request: HttpRequest, pk: int) -> HttpResponse:
    customer = selectors.customer_get(user=request.user, pk=pk, action=CHANGE)
    if customer.merged_into_id:
        raise Http404("Merged customer.")
    form = CustomerForm(request.POST or None, instance=customer, user=request.user, creating=False)
    if request.method == "POST" and form.is_valid():
        fresh = Customer.objects.get(pk=customer.pk)  # the form mutated the instance
        try:
            services.customer_update(
                actor=request.user,
                customer=fresh,
                tags=form.cleaned_data.get("tags"),
                **form.service_fields(),
            )
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(request, _("Customer “%(name)s” saved.") % {"name": fresh})
            return redirect("customer_detail", customer.pk)
    return render(
        request,
        "customers/customer_form.html",
        {
            "form": form,
            "customer": customer,
            "title": _("Edit “%(name)s”") % {"name": customer},
            "cancel_url": reverse("customer_detail", args=[customer.pk]),
        },
    )


@access.authenticated
def customer_merge(request: HttpRequest, pk: int) -> HttpResponse:
    """Merge a duplicate into this customer (administrators and managers)."""
    if not services.can_merge(request.user):
        raise Http404("Not allowed.")
    keep = selectors.customer_get(user=request.user, pk=pk, action=CHANGE)
    if keep.merged_into_id:
        raise Http404("Merged customer.")
    initial = {"merge_no": request.GET.get("merge")} if request.GET.get("merge") else {}
    form = MergeForm(request.POST or None, initial=initial)
    candidates = [
        c
        for c in selectors.customer_duplicates(
            legal_name=keep.legal_name,
            credit_code=keep.credit_code,
            phones=keep.contacts.values_list("phone", flat=True),
            exclude_pk=keep.pk,
        )
        if services.can_change(request.user, c)
    ]
    if request.method == "POST" and form.is_valid():
        merge = (
            selectors.customer_base(user=request.user, action=CHANGE)
            .filter(pk=form.cleaned_data["merge_no"])
            .first()
        )
        if merge is None or merge.pk == keep.pk:
            form.add_error("merge_no", _("Pick another customer you may change."))
        else:
            try:
                services.customer_merge(
                    actor=request.user, keep=keep, merge=merge, reason=form.cleaned_data["reason"]
                )
            except ValidationError as e:
                apply_service_error(form, e)
            except PermissionDenied:
                raise Http404("Not allowed.")
            else:
                messages.success(
                    request, _("“%(merged)s” was merged into “%(kept)s”.") % {"merged": merge, "kept": keep}
                )
                return redirect("customer_detail", keep.pk)
    return render(
        request, "customers/customer_merge.html", {"customer": keep, "form": form, "candidates": candidates}
    )


# --- contacts -----------------------------------------------------------------------------------


def _editable_customer(request: HttpRequest, pk: int) -> Customer:
    customer = selectors.customer_get(user=request.user, pk=pk, action=CHANGE)
    if customer.merged_into_id:
        raise Http404("Merged customer.")
    return customer


@access.authenticated
def contact_create(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _editable_customer(request, pk)
    form = ContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.contact_create(actor=request.user, customer=customer, **form.cleaned_data)
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(request, _("Contact added."))
            return redirect(f"{reverse('customer_detail', args=[customer.pk])}#contacts")
    return render(
        request,
        "customers/contact_form.html",
        {"form": form, "customer": customer, "title": _("New contact")},
    )


@access.authenticated
def contact_edit(request: HttpRequest, pk: int, contact_pk: int) -> HttpResponse:
    customer = _editable_customer(request, pk)
    contact = selectors.contact_get(user=request.user, customer=customer, pk=contact_pk, action=CHANGE)
    form = ContactForm(request.POST or None, instance=contact)
    if request.method == "POST" and form.is_valid():
        try:
            services.contact_update(
                actor=request.user, contact=customer.contacts.get(pk=contact.pk), **form.cleaned_data
            )
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(request, _("Contact saved."))
            return redirect(f"{reverse('customer_detail', args=[customer.pk])}#contacts")
    return render(
        request,
        "customers/contact_form.html",
        {"form": form, "customer": customer, "contact": contact, "title": _("Edit contact")},
    )


@access.authenticated
@require_POST
def contact_delete(request: HttpRequest, pk: int, contact_pk: int) -> HttpResponse:
    customer = _editable_customer(request, pk)
    contact = selectors.contact_get(user=request.user, customer=customer, pk=contact_pk, action=CHANGE)
    services.contact_delete(actor=request.user, contact=contact)
    messages.success(request, _("Contact “%(name)s” deleted.") % {"name": contact.name})
    return redirect(f"{reverse('customer_detail', args=[customer.pk])}#contacts")
