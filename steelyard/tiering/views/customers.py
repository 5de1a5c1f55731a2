"""Tier screens for reps and managers: my customers by tier, the customer page's Tier section, override
requests, entered factor values, and the manager's tier review.

Reads through ``steelyard.tiering.selectors.customers`` (scoped: a customer outside the scope is 404),
writes through ``services.overrides`` / ``services.reviews`` (audited).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from steelyard.core import access
from steelyard.core.filters import paginate
from steelyard.core.scopes import CHANGE
from steelyard.customers.forms import apply_service_error
from steelyard.customers.models import Customer
from steelyard.customers.selectors.customers import customer_get
from steelyard.tiering.forms_customers import (
    EnteredValuesForm,
    OverrideRequestForm,
    ReviewForm,
    TierCustomerFilter,
)
from steelyard.tiering.models import OverrideStatus, TierOverride
from steelyard.tiering.selectors import customers as selectors
from steelyard.tiering.services import overrides as services
from steelyard.tiering.services import reviews as review_services

REVIEW_ROLES = review_services.REVIEW_ROLES


def _entitlements_url() -> str:
    """The strategy area's "what each tier entitles" page, when it exists."""
    try:
        return reverse("tier_entitlements")
    except NoReverseMatch:
        return ""


def _live_customer(request: HttpRequest, pk: int, action: str = "view") -> Customer:
    customer = customer_get(user=request.user, pk=pk, action=action)
    if customer.merged_into_id:
        raise Http404("Merged customer.")
    return customer


# --- the customer page's section ---------------------------------------------------------------------------


def tier_section_context(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    """The "Tier" section of the customer page (registered in ``registrations/overrides.py``)."""
    cards = selectors.customer_tier_cards(user=request.user, customer=customer)
    values = selectors.entered_values(user=request.user, customer=customer)
    overrides = selectors.customer_overrides(user=request.user, customer=customer)
    can_edit = services.can_request(request.user, customer) and not customer.merged_into_id
    names = {(c.model.pk, t.code): selectors.tier_label(t) for c in cards for t in c.model.tiers.all()}
    for o in overrides:
        o.tier_name = names.get((o.model_id, o.tier), o.tier)
    initial = {code: v.value for code, v in values.items()}
    return {
        "cards": cards,
        "values": values,
        "potential": values.get("potential"),
        "strategic_fit": values.get("strategic_fit"),
        "overrides": overrides,
        "pending": next((o for o in overrides if o.status == OverrideStatus.PENDING), None),
        "can_edit": can_edit,
        "values_form": EnteredValuesForm(initial=initial, auto_id=f"ev-{customer.pk}-%s")
        if can_edit
        else None,
        "entitlements_url": _entitlements_url(),
        "today": timezone.localdate(),
    }


# --- my customers by tier ------------------------------------------------------------------------------------


@access.authenticated
def my_customers(request: HttpRequest) -> HttpResponse:
    """Counts per tier (and what each entitles), customers grouped by tier, near a threshold, moving."""
    models = selectors.tier_models()
    model = selectors.tier_model_pick(models, request.GET.get("model"))
    ctx: dict[str, Any] = {"models": models, "model": model, "entitlements_url": _entitlements_url()}
    if model is not None:
        f = TierCustomerFilter(request.GET, user=request.user, model=model)
        page = paginate(
            request, selectors.tier_customer_list(user=request.user, model=model, filters=request.GET)
        )
        tiers = selectors.tiers_by_code(model)
        for ct in page.object_list:
            ct.tier_name = selectors.tier_label(tiers.get(ct.eff), ct.eff)
            ct.pending_name = (
                selectors.tier_label(tiers.get(ct.pending_tier), ct.pending_tier) if ct.pending_tier else ""
            )
        ctx.update(
            {
                "filter": f,
                "page": page,
                "sorts": f.sort_links(request),
                "counts": selectors.tier_counts(user=request.user, model=model),
                "near": selectors.near_threshold(user=request.user, model=model),
                "pending_moves": selectors.pending_moves(user=request.user, model=model),
                "group_by_tier": f.current_sort == "tier",
            }
        )
    return render(request, "tiering/customers/my_customers.html", ctx)


# --- overrides -------------------------------------------------------------------------------------------------


@access.authenticated
def override_request(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask for the customer to be put in another tier (goes to approval)."""
    customer = _live_customer(request, pk, CHANGE)
    models = selectors.tier_models()
    model = selectors.tier_model_pick(models, request.GET.get("model") or request.POST.get("model"))
    if model is None:
        raise Http404("No active tier model.")
    form = OverrideRequestForm(request.POST or None, model=model)
    if request.method == "POST" and form.is_valid():
        try:
            services.override_request(
                actor=request.user,
                customer=customer,
                model=model,
                tier=form.cleaned_data["tier"],
                reason=form.cleaned_data["reason"],
                expires_on=form.cleaned_data["expires_on"],
            )
        except ValidationError as e:
            apply_service_error(form, e)
        except PermissionDenied:
            raise Http404("Not allowed.")
        else:
            messages.success(request, _("Override requested. The tier changes once it is approved."))
            return redirect(f"{reverse('customer_detail', args=[customer.pk])}#tier")
    cards = [
        c
        for c in selectors.customer_tier_cards(user=request.user, customer=customer)
        if c.model.pk == model.pk
    ]
    return render(
        request,
        "tiering/customers/override_form.html",
        {
            "customer": customer,
            "model": model,
            "models": models,
            "form": form,
            "card": cards[0] if cards else None,
        },
    )


@access.authenticated
@require_POST
def override_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """The requester withdraws a pending override."""
    override = get_object_or_404(TierOverride.objects.visible_to(request.user), pk=pk)
    try:
        services.override_cancel(actor=request.user, override=override)
    except (ValidationError, PermissionDenied) as e:
        messages.error(request, " ".join(getattr(e, "messages", None) or [str(e)]))
    else:
        messages.success(request, _("Override request withdrawn."))
    return redirect(f"{reverse('customer_detail', args=[override.customer_id])}#tier")


# --- entered values ------------------------------------------------------------------------------------------


@access.authenticated
def entered_values_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Set the customer's potential and strategic fit (owner and managers)."""
    customer = _live_customer(request, pk, CHANGE)
    current = selectors.entered_values(user=request.user, customer=customer)
    form = EnteredValuesForm(request.POST or None, initial={c: v.value for c, v in current.items()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.entered_values_set(
                actor=request.user,
                customer=customer,
                values={"potential": data.get("potential"), "strategic_fit": data.get("strategic_fit")},
                note=data.get("note", ""),
            )
        except ValidationError as e:
            apply_service_error(form, e)
        except PermissionDenied:
            raise Http404("Not allowed.")
        else:
            messages.success(request, _("Saved. The next assessment uses these values."))
            return redirect(f"{reverse('customer_detail', args=[customer.pk])}#tier")
    return render(
        request,
        "tiering/customers/entered_values_form.html",
        {"customer": customer, "form": form, "values": current},
    )


# --- the manager's review ---------------------------------------------------------------------------------------


def _decorate(data: dict[str, Any], model: Any) -> dict[str, Any]:
    """Readable rows for the template (tier names), without changing what is stored."""
    tiers = selectors.tiers_by_code(model)
    data["migrations"] = [
        {**m, "rows": selectors.migration_rows(m.get("matrix", {}), model)}
        for m in data.get("migrations", [])
    ]
    by_tier = (data.get("overrides") or {}).get("by_tier", {})
    data["override_rows"] = [(selectors.tier_label(tiers.get(code), code), n) for code, n in by_tier.items()]
    return data


@access.roles(*REVIEW_ROLES)
def reviews(request: HttpRequest) -> HttpResponse:
    """The figures of a model's tiers for a quarter, a conclusion form, and the reviews already saved."""
    models = selectors.tier_models()
    source = request.POST if request.method == "POST" else request.GET
    model = selectors.tier_model_pick(models, source.get("model"))
    periods = selectors.recent_periods()
    period = source.get("period") or selectors.current_period()
    try:
        selectors.period_bounds(period)
    except (ValueError, TypeError):
        period = selectors.current_period()
    ctx: dict[str, Any] = {"models": models, "model": model, "periods": periods, "period": period}
    if model is None:
        return render(request, "tiering/customers/reviews.html", ctx)
    form = ReviewForm(request.POST or None, initial={"model": model.code, "period": period})
    if request.method == "POST" and form.is_valid():
        try:
            review = review_services.review_create(
                actor=request.user, model=model, period=period, conclusion=form.cleaned_data["conclusion"]
            )
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(request, _("Review saved with the figures it was made on."))
            return redirect("tier_review_detail", review.pk)
    data = _decorate(selectors.review_data(user=request.user, model=model, period=period), model)
    existing = selectors.review_list(model=model).filter(period=period).first()
    ctx.update(
        {
            "data": data,
            "form": form,
            "existing": existing,
            "in_force": selectors.overrides_in_force(user=request.user, model=model),
            "tiers": selectors.tiers_by_code(model),
            "page": paginate(request, selectors.review_list(model=model), per_page=10),
        }
    )
    return render(request, "tiering/customers/reviews.html", ctx)


@access.roles(*REVIEW_ROLES)
def review_detail(request: HttpRequest, pk: int) -> HttpResponse:
    review = get_object_or_404(selectors.review_list(), pk=pk)
    data = _decorate(dict(review.snapshot or {}), review.model)
    return render(request, "tiering/customers/review_detail.html", {"review": review, "data": data})
