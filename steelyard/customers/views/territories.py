"""Territory pages (/customers/territories/): the territory tree, create/edit, test routing, reassignment.

Territories are set up by administrators and sales directors; managers move customers between
the people they lead (one customer, or a leaving rep's whole book).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from steelyard.core import access
from steelyard.core.filters import ListFilter, paginate
from steelyard.customers.models import Customer, Industry, Pool, Territory
from steelyard.customers.regions import PROVINCE_CHOICES
from steelyard.customers.selectors import territories as selectors
from steelyard.customers.services import territories as services
from steelyard.org.models import OrgUnit
from steelyard.org.roles import EXECUTIVE, SALES_DIRECTOR, SALES_MANAGER

MANAGER_ROLES = (SALES_MANAGER, SALES_DIRECTOR, EXECUTIVE)
ACTIVE_CHOICES = [
    ("", gettext_lazy("Active and inactive")),
    ("1", gettext_lazy("Active")),
    ("0", gettext_lazy("Inactive")),
]


def _apply_error(form: forms.Form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


def _style(form: forms.Form) -> None:
    for field in form.fields.values():
        w = field.widget
        if isinstance(w, forms.CheckboxInput):
            w.attrs.setdefault("class", "form-check-input")
        elif isinstance(w, forms.Select | forms.SelectMultiple):
            w.attrs.setdefault("class", "form-select")
        else:
            w.attrs.setdefault("class", "form-control")


# --- forms ----------------------------------------------------------------------------------


class TerritoryFilter(ListFilter):
    """Filters of the territory list: search, strategy, active."""

    q = forms.CharField(label=gettext_lazy("Search"), required=False, max_length=100)
    strategy = forms.ChoiceField(
        label=gettext_lazy("Assignment"),
        choices=[("", gettext_lazy("All strategies")), *Territory.Strategy.choices],
        required=False,
    )
    active = forms.ChoiceField(label=gettext_lazy("Status"), choices=ACTIVE_CHOICES, required=False)

    sort_fields = {"priority": ("priority", "code"), "name": ("name",), "code": ("code",)}
    default_sort = "priority"


class RouteTestForm(forms.Form):
    """The "test routing" box: which owner would a customer with these attributes get?"""

    province = forms.ChoiceField(
        label=gettext_lazy("Province"), required=False, choices=[("", "—"), *PROVINCE_CHOICES]
    )
    industry = forms.ChoiceField(
        label=gettext_lazy("Industry"), required=False, choices=[("", "—"), *Industry.choices]
    )
    product_line = forms.CharField(label=gettext_lazy("Product line"), required=False, max_length=40)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, prefix="route", **kwargs)
        for field in self.fields.values():
            field.widget.attrs["class"] = (
                "form-select form-select-sm"
                if isinstance(field.widget, forms.Select)
                else "form-control form-control-sm"
            )


class TerritoryForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=80)
    code = forms.SlugField(label=gettext_lazy("Code"), max_length=40)
    parent = forms.ModelChoiceField(
        label=gettext_lazy("Parent territory"), queryset=Territory.objects.none(), required=False
    )
    provinces = forms.MultipleChoiceField(
        label=gettext_lazy("Provinces"),
        choices=PROVINCE_CHOICES,
        required=False,
        help_text=gettext_lazy("Leave empty to match every province."),
    )
    industries = forms.MultipleChoiceField(
        label=gettext_lazy("Industries"),
        choices=Industry.choices,
        required=False,
        help_text=gettext_lazy("Leave empty to match every industry."),
    )
    product_lines = forms.CharField(
        label=gettext_lazy("Product lines"),
        required=False,
        max_length=400,
        help_text=gettext_lazy(
            "Product line codes separated by commas; leave empty to match every product line."
        ),
    )
    owner = forms.ModelChoiceField(
        label=gettext_lazy("Owner"), queryset=OrgUnit.objects.none(), required=False
    )
    org_unit = forms.ModelChoiceField(
        label=gettext_lazy("Team"), queryset=OrgUnit.objects.none(), required=False
    )
    members = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Members"), queryset=OrgUnit.objects.none(), required=False
    )
    strategy = forms.ChoiceField(label=gettext_lazy("Assignment"), choices=Territory.Strategy.choices)
    priority = forms.IntegerField(
        label=gettext_lazy("Priority"), initial=100, help_text=gettext_lazy("Lower numbers are tried first.")
    )
    pool = forms.ModelChoiceField(
        label=gettext_lazy("Pool"),
        queryset=Pool.objects.none(),
        required=False,
        help_text=gettext_lazy("Customers routed here without an owner wait in this pool."),
    )
    is_active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)

    def __init__(self, *args: Any, user: Any, territory: Territory | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        people = selectors.reassign_user_choices(user=user)
        units = OrgUnit.objects.visible_to(user).filter(is_active=True).order_by("path")
        parents = selectors.territory_list(user=user).order_by("code")
        if territory is not None:
            parents = parents.exclude(pk=territory.pk)
        self.fields["parent"].queryset = parents  # type: ignore[attr-defined]
        self.fields["owner"].queryset = people  # type: ignore[attr-defined]
        self.fields["members"].queryset = people  # type: ignore[attr-defined]
        self.fields["org_unit"].queryset = units  # type: ignore[attr-defined]
        self.fields["org_unit"].label_from_instance = lambda u: f"{'— ' * u.depth}{u.name}"  # type: ignore[attr-defined]
        self.fields["pool"].queryset = Pool.objects.filter(org_unit__in=units, is_active=True)  # type: ignore[attr-defined]
        _style(self)

    def clean_product_lines(self) -> list[str]:
        raw = self.cleaned_data.get("product_lines") or ""
        return [p.strip() for p in raw.replace("，", ",").split(",") if p.strip()]


class BulkReassignForm(forms.Form):
    from_user = forms.ModelChoiceField(
        label=gettext_lazy("Move the customers of"), queryset=OrgUnit.objects.none()
    )
    to_user = forms.ModelChoiceField(label=gettext_lazy("To"), queryset=OrgUnit.objects.none())
    reason = forms.CharField(
        label=gettext_lazy("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )
    include_activities = forms.BooleanField(
        label=gettext_lazy("Also move their planned activities"), required=False, initial=True
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        people = selectors.reassign_user_choices(user=user)
        self.fields["from_user"].queryset = people  # type: ignore[attr-defined]
        self.fields["to_user"].queryset = people  # type: ignore[attr-defined]
        _style(self)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("from_user") and data.get("from_user") == data.get("to_user"):
            self.add_error("to_user", services.ERR_BULK_SAME_USER)
        return data


class CustomerReassignForm(forms.Form):
    to_owner = forms.ModelChoiceField(label=gettext_lazy("New owner"), queryset=OrgUnit.objects.none())
    reason = forms.CharField(
        label=gettext_lazy("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, user: Any, customer: Customer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        people = selectors.reassign_user_choices(user=user)
        if customer.owner_id:
            people = people.exclude(pk=customer.owner_id)
        self.fields["to_owner"].queryset = people  # type: ignore[attr-defined]
        _style(self)


# --- territories ----------------------------------------------------------------------------


@access.roles(SALES_DIRECTOR)
def territory_list(request: HttpRequest) -> HttpResponse:
    """The territory tree with criteria, owner, team, strategy and member count; and the routing test box."""
    f = TerritoryFilter(request.GET, user=request.user)
    qs = f.apply(selectors.territory_list(user=request.user, filters=f.valid_data))
    page = paginate(request, qs, per_page=50)
    if not request.GET.get("sort"):
        page.object_list = selectors.territory_tree_order(page.object_list)
    province_labels = dict(PROVINCE_CHOICES)
    industry_labels = dict(Industry.choices)
    for t in page.object_list:
        t.province_labels = [str(province_labels.get(p, p)) for p in t.provinces]  # type: ignore[attr-defined]
        t.industry_labels = [str(industry_labels.get(i, i)) for i in t.industries]  # type: ignore[attr-defined]
    route_form = RouteTestForm(request.GET if "route-province" in request.GET else None)
    route: dict[str, Any] | None = None
    if route_form.is_bound and route_form.is_valid():
        owner, territory = services.territory_route(**route_form.cleaned_data)
        route = {"owner": owner, "territory": territory}
    return render(
        request,
        "customers/territory_list.html",
        {
            "filter": f,
            "page": page,
            "sorts": f.sort_links(request),
            "route_form": route_form,
            "route": route,
        },
    )


def _territory_form_page(
    request: HttpRequest, form: TerritoryForm, title: str, territory: Territory | None
) -> HttpResponse:
    return render(
        request, "customers/territory_form.html", {"form": form, "title": title, "territory": territory}
    )


@access.roles(SALES_DIRECTOR)
def territory_create(request: HttpRequest) -> HttpResponse:
    form = TerritoryForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            territory = services.territory_create(actor=request.user, **form.cleaned_data)
        except ValidationError as e:
            _apply_error(form, e)
        else:
            messages.success(request, _("Territory “%(name)s” created.") % {"name": territory.name})
            return redirect("territory_list")
    return _territory_form_page(request, form, _("New territory"), None)


@access.roles(SALES_DIRECTOR)
def territory_edit(request: HttpRequest, pk: int) -> HttpResponse:
    territory = get_object_or_404(selectors.territory_list(user=request.user), pk=pk)
    initial = {
        "name": territory.name,
        "code": territory.code,
        "parent": territory.parent_id,
        "provinces": territory.provinces,
        "industries": territory.industries,
        "product_lines": ", ".join(territory.product_lines),
        "owner": territory.owner_id,
        "org_unit": territory.org_unit_id,
        "members": list(territory.members.values_list("pk", flat=True)),
        "strategy": territory.strategy,
        "priority": territory.priority,
        "pool": territory.pool_id,
        "is_active": territory.is_active,
    }
    form = TerritoryForm(request.POST or None, user=request.user, territory=territory, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.territory_update(actor=request.user, territory=territory, **form.cleaned_data)
        except ValidationError as e:
            _apply_error(form, e)
        else:
            messages.success(request, _("Territory “%(name)s” saved.") % {"name": territory.name})
            return redirect("territory_list")
    return _territory_form_page(
        request, form, _("Edit territory “%(name)s”") % {"name": territory.name}, territory
    )


# --- reassignment ---------------------------------------------------------------------------


@access.roles(*MANAGER_ROLES)
def reassign_bulk(request: HttpRequest) -> HttpResponse:
    """Move a leaving rep's book: choose two people, preview the counts, confirm."""
    form = BulkReassignForm(request.POST or None, user=request.user)
    preview: dict[str, int] | None = None
    result: dict[str, Any] | None = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.bulk_reassign_check(
                actor=request.user, from_user=data["from_user"], to_user=data["to_user"]
            )
            if request.POST.get("confirm") == "1":
                result = services.owner_bulk_reassign(actor=request.user, **data)
            else:
                preview = services.bulk_reassign_preview(from_user=data["from_user"])
        except ValidationError as e:
            _apply_error(form, e)
        except PermissionDenied as e:
            form.add_error(None, str(e) or services.ERR_BULK_FORBIDDEN)
    job_url = reverse("job_detail", args=[result["job_id"]]) if result and result.get("job_id") else ""
    return render(
        request,
        "customers/reassign_bulk.html",
        {"form": form, "preview": preview, "result": result, "job_url": job_url},
    )


def _customer_url(customer: Customer) -> str:
    # The customer page belongs to the customers area; until it is routed, come back here.
    try:
        return customer.get_absolute_url()
    except NoReverseMatch:
        return reverse("customer_reassign", args=[customer.pk])


@access.authenticated
def customer_reassign(request: HttpRequest, pk: int) -> HttpResponse:
    """Give one customer to another person (managers over the customer)."""
    customer = get_object_or_404(
        Customer.objects.visible_to(request.user).select_related("owner", "territory"), pk=pk
    )
    if not services.can_reassign(request.user, customer):
        raise PermissionDenied(services.ERR_REASSIGN_FORBIDDEN)
    form = CustomerReassignForm(request.POST or None, user=request.user, customer=customer)
    if request.method == "POST" and form.is_valid():
        try:
            services.customer_reassign(actor=request.user, customer=customer, **form.cleaned_data)
        except ValidationError as e:
            _apply_error(form, e)
        else:
            messages.success(
                request,
                _("“%(customer)s” now belongs to %(owner)s.")
                % {"customer": customer, "owner": form.cleaned_data["to_owner"]},
            )
            return redirect(_customer_url(customer))
    return render(
        request,
        "customers/reassign_customer.html",
        {"form": form, "customer": customer, "customer_url": _customer_url(customer)},
    )


@access.roles(SALES_DIRECTOR)
@require_POST
def territory_set_active(request: HttpRequest, pk: int) -> HttpResponse:
    """Deactivate or reactivate a territory (``active=0|1``); an inactive one routes nothing."""
    territory = get_object_or_404(selectors.territory_list(user=request.user), pk=pk)
    active = request.POST.get("active") == "1"
    try:
        services.territory_update(actor=request.user, territory=territory, is_active=active)
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
    else:
        msg = _("Territory “%(name)s” reactivated.") if active else _("Territory “%(name)s” deactivated.")
        messages.success(request, msg % {"name": territory.name})
    return redirect("territory_list")


def assignment_section_context(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    """Context of the "assignment" section on the customer page: its territory and a link to reassign it."""
    can = services.can_reassign(request.user, customer)
    return {
        "assignment_customer": customer,
        "assignment_territory": customer.territory if customer.territory_id else None,
        "assignment_can_reassign": can,
    }
