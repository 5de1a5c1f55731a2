"""Catalogue pages: product lines and products (everyone signed in reads; administrators and
production planners edit).

Reads go through ``steelyard.catalog.selectors``, writes through ``steelyard.catalog.services``
(audited). Edit pages answer 403 to people without an editor role.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from steelyard.catalog import selectors, services
from steelyard.catalog.filters import ProductFilter, ProductLineFilter
from steelyard.catalog.forms import ProductForm, ProductLineForm, apply_service_error
from steelyard.catalog.models import Product, ProductKind, ProductLine
from steelyard.core import access
from steelyard.core.filters import paginate
from steelyard.core.selectors.audit import audit_for_object
from steelyard.org.roles import PRODUCTION_PLANNER

editors = access.roles(PRODUCTION_PLANNER)  # administrators always pass


# --- product lines -----------------------------------------------------------------------------


@access.authenticated
def product_line_list(request: HttpRequest) -> HttpResponse:
    f = ProductLineFilter(request.GET, user=request.user)
    page = paginate(request, selectors.product_line_list(user=request.user, filters=request.GET), per_page=50)
    return render(
        request,
        "catalog/product_line_list.html",
        {
            "filter": f,
            "page": page,
            "sorts": f.sort_links(request),
            "can_edit": services.can_edit_catalog(request.user),
        },
    )


@access.authenticated
def product_line_detail(request: HttpRequest, pk: int) -> HttpResponse:
    line = selectors.product_line_get(user=request.user, pk=pk)
    counts = selectors.product_line_kind_counts(line)
    machines = list(
        selectors.product_base(user=request.user)
        .filter(product_line=line, kind=ProductKind.MACHINE, is_active=True)
        .order_by("code")[:100]
    )
    can_edit = services.can_edit_catalog(request.user)
    ctx: dict[str, Any] = {
        "line": line,
        "kind_counts": [(label, counts[value], value) for value, label in ProductKind.choices],
        "machines": machines,
        "can_edit": can_edit,
    }
    if access.user_has_role(request.user, access.ADMINISTRATOR):
        ctx["audit_entries"] = audit_for_object(user=request.user, obj=line, limit=20)
    return render(request, "catalog/product_line_detail.html", ctx)


@editors
def product_line_create(request: HttpRequest) -> HttpResponse:
    form = ProductLineForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            line = services.product_line_create(actor=request.user, **form.service_fields())
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(request, _("Product line “%(name)s” created.") % {"name": line})
            return redirect("catalog_line_detail", line.pk)
    return render(
        request,
        "catalog/form.html",
        {"form": form, "title": _("New product line"), "cancel_url": reverse("catalog_line_list")},
    )


@editors
def product_line_edit(request: HttpRequest, pk: int) -> HttpResponse:
    line = selectors.product_line_get(user=request.user, pk=pk)
    form = ProductLineForm(request.POST or None, instance=line)
    if request.method == "POST" and form.is_valid():
        fresh = ProductLine.objects.get(pk=line.pk)  # the form mutated the instance
        try:
            services.product_line_update(actor=request.user, line=fresh, **form.service_fields())
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(
                request, _("Product line “%(name)s” saved.") % {"name": form.cleaned_data["name"]}
            )
            return redirect("catalog_line_detail", line.pk)
    return render(
        request,
        "catalog/form.html",
        {
            "form": form,
            "title": _("Edit product line “%(name)s”") % {"name": ProductLine.objects.get(pk=line.pk)},
            "cancel_url": reverse("catalog_line_detail", args=[line.pk]),
        },
    )


@editors
@require_POST
def product_line_set_active(request: HttpRequest, pk: int, active: bool) -> HttpResponse:
    line = selectors.product_line_get(user=request.user, pk=pk)
    if active:
        services.product_line_activate(actor=request.user, line=line)
        messages.success(request, _("Product line “%(name)s” is active again.") % {"name": line})
    else:
        services.product_line_deactivate(actor=request.user, line=line)
        messages.success(
            request,
            _("Product line “%(name)s” deactivated. Its products stay in the catalogue.") % {"name": line},
        )
    return redirect("catalog_line_detail", line.pk)


# --- products ----------------------------------------------------------------------------------


@access.authenticated
def product_list(request: HttpRequest) -> HttpResponse:
    f = ProductFilter(request.GET, user=request.user)
    page = paginate(request, selectors.product_list(user=request.user, filters=request.GET))
    return render(
        request,
        "catalog/product_list.html",
        {
            "filter": f,
            "page": page,
            "sorts": f.sort_links(request),
            "can_edit": services.can_edit_catalog(request.user),
        },
    )


@access.authenticated
def product_detail(request: HttpRequest, pk: int) -> HttpResponse:
    product = selectors.product_get(user=request.user, pk=pk)
    can_edit = services.can_edit_catalog(request.user)
    related = selectors.product_related(user=request.user, product=product, include_inactive=can_edit)
    ctx: dict[str, Any] = {
        "product": product,
        "is_machine": product.kind == ProductKind.MACHINE,
        "can_edit": can_edit,
        **related,
    }
    if access.user_has_role(request.user, access.ADMINISTRATOR):
        ctx["audit_entries"] = audit_for_object(user=request.user, obj=product, limit=20)
    return render(request, "catalog/product_detail.html", ctx)


@editors
def product_create(request: HttpRequest) -> HttpResponse:
    initial: dict[str, Any] = {"currency": "CNY", "unit": "台"}
    for name in ("product_line", "kind"):
        if request.GET.get(name):
            initial[name] = request.GET[name]
    if request.GET.get("fits"):
        initial["fits"] = [request.GET["fits"]]
    form = ProductForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            product = services.product_create(
                actor=request.user, fits=form.cleaned_data.get("fits") or (), **form.service_fields()
            )
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(request, _("Product “%(name)s” created.") % {"name": product})
            return redirect("catalog_product_detail", product.pk)
    return render(
        request,
        "catalog/form.html",
        {"form": form, "title": _("New product"), "cancel_url": reverse("catalog_product_list")},
    )


@editors
def product_edit(request: HttpRequest, pk: int) -> HttpResponse:
    product = selectors.product_get(user=request.user, pk=pk)
    form = ProductForm(request.POST or None, instance=product)
    if request.method == "POST" and form.is_valid():
        fresh = Product.objects.get(pk=product.pk)  # the form mutated the instance
        try:
            services.product_update(
                actor=request.user,
                product=fresh,
                fits=list(form.cleaned_data.get("fits") or ()),
                **form.service_fields(),
            )
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(request, _("Product “%(name)s” saved.") % {"name": form.cleaned_data["code"]})
            return redirect("catalog_product_detail", product.pk)
    return render(
        request,
        "catalog/form.html",
        {
            "form": form,
            "title": _("Edit product “%(name)s”") % {"name": Product.objects.get(pk=product.pk)},
            "cancel_url": reverse("catalog_product_detail", args=[product.pk]),
        },
    )


@editors
@require_POST
def product_set_active(request: HttpRequest, pk: int, active: bool) -> HttpResponse:
    product = selectors.product_get(user=request.user, pk=pk)
    if active:
        services.product_activate(actor=request.user, product=product)
        messages.success(request, _("Product “%(name)s” is active again.") % {"name": product})
    else:
        services.product_deactivate(actor=request.user, product=product)
        messages.success(
            request,
            _("Product “%(name)s” deactivated. Orders that have it keep it.") % {"name": product},
        )
    return redirect("catalog_product_detail", product.pk)
