"""Pool pages: the pool list with claim buttons, release / lock from the customer page, pool settings.

Reads go through ``selectors.pool`` (scoped; a customer outside the user's pools answers 404), writes
through ``services.pool`` (audited).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from steelyard.core import access
from steelyard.core.filters import ListFilter, paginate
from steelyard.core.tasks import enqueue_job
from steelyard.customers.models import Customer, Industry, Pool, PoolTrigger
from steelyard.customers.selectors import pool as selectors
from steelyard.customers.services import pool as services
from steelyard.org.models import User
from steelyard.org.roles import SALES_DIRECTOR

RELEASED_CHOICES = [
    ("", gettext_lazy("Any time")),
    ("7", gettext_lazy("Returned in the last 7 days")),
    ("30", gettext_lazy("Returned in the last 30 days")),
]


class PoolCustomerFilter(ListFilter):
    """Filters of the pool list: pool, search, industry, province, tier, recently returned."""

    pool = forms.TypedChoiceField(label=gettext_lazy("Pool"), required=False, coerce=int, empty_value=None)
    q = forms.CharField(label=gettext_lazy("Search"), required=False, max_length=100)
    industry = forms.ChoiceField(
        label=gettext_lazy("Industry"),
        required=False,
        choices=[("", gettext_lazy("All industries")), *Industry.choices],
    )
    province = forms.CharField(label=gettext_lazy("Province"), required=False, max_length=20)
    tier = forms.CharField(label=gettext_lazy("Tier"), required=False, max_length=20)
    released = forms.ChoiceField(label=gettext_lazy("Returned"), required=False, choices=RELEASED_CHOICES)

    sort_fields = {"name": ("legal_name",), "released": ("released_at",), "province": ("province", "city")}
    default_sort = "-released"

    def __init__(self, data: Any = None, *, user: Any = None, pools: list[Pool] = (), **kwargs: Any) -> None:
        super().__init__(data, user=user, **kwargs)
        self.fields["pool"].choices = [("", _("All my pools")), *[(p.pk, p.name) for p in pools]]

    def filter_queryset(self, queryset: QuerySet, data: dict[str, Any]) -> QuerySet:
        if data.get("pool"):
            queryset = queryset.filter(pool_id=data["pool"])
        if data.get("q"):
            q = data["q"].strip()
            queryset = queryset.filter(
                Q(legal_name__icontains=q)
                | Q(short_name__icontains=q)
                | Q(pinyin_initials__icontains=q.lower())
                | Q(credit_code__iexact=q)
            )
        if data.get("industry"):
            queryset = queryset.filter(industry=data["industry"])
        if data.get("province"):
            queryset = queryset.filter(province__icontains=data["province"])
        if data.get("tier"):
            queryset = queryset.filter(tier=data["tier"])
        if data.get("released"):
            since = timezone.now() - dt.timedelta(days=int(data["released"]))
            queryset = queryset.filter(released_at__gte=since)
        return queryset


def _customer_url(customer: Customer) -> str:
    try:
        return customer.get_absolute_url()
    except NoReverseMatch:
        return reverse("pool_list")


def _error_text(exc: ValidationError | PermissionDenied) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(str(m) for m in exc.messages)
    return str(exc)


def _limits(user: Any, pools: list[Pool]) -> dict[str, Any]:
    """My holdings against the smallest cap of my pools, and claims left today."""
    if not pools:
        return {}
    cap = min(p.holding_cap for p in pools)
    per_day = min(p.claims_per_day for p in pools)
    used = selectors.claims_today_count(user=user)
    return {
        "holding": services.holding_count(user),
        "cap": cap,
        "claims_left": max(0, per_day - used),
        "claims_per_day": per_day,
    }


@access.authenticated
def pool_list(request: HttpRequest) -> HttpResponse:
    """The customers waiting in my pools, with a Claim button on each."""
    pools = list(selectors.pool_list(user=request.user))
    f = PoolCustomerFilter(request.GET, user=request.user, pools=pools)
    page = paginate(request, f.apply(selectors.pool_customer_list(user=request.user, pools=pools)))
    admin_pools = [p for p in pools if services.pool_is_admin(p, request.user)]
    return render(
        request,
        "customers/pool_list.html",
        {
            "filter": f,
            "page": page,
            "pools": pools,
            "admin_pools": admin_pools,
            "limits": _limits(request.user, pools),
            "sorts": f.sort_links(request),
            "is_admin": access.user_has_role(request.user, access.ADMINISTRATOR),
            "can_create_pool": services.can_create_pool(request.user),
        },
    )


@require_POST
@access.authenticated
def pool_claim(request: HttpRequest, pk: int) -> HttpResponse:
    """Claim one pool customer; an htmx request gets its row back, saying "claimed" or why not."""
    customer = get_object_or_404(selectors.pool_customer_list(user=request.user), pk=pk)
    error = ""
    try:
        customer = services.customer_claim(
            actor=request.user, customer_id=customer.pk, reason=request.POST.get("reason", "")[:500]
        )
    except (ValidationError, PermissionDenied) as exc:
        error = _error_text(exc)
    if request.headers.get("HX-Request"):
        return render(
            request, "customers/pool_list.html#row", {"c": customer, "claimed": not error, "error": error}
        )
    if error:
        messages.error(request, error)
        return redirect("pool_list")
    messages.success(request, _("“%(name)s” is now your customer.") % {"name": customer})
    return redirect(_customer_url(customer))


class ReleaseForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )


class LockForm(forms.Form):
    until = forms.DateField(
        label=gettext_lazy("Keep out of the pool until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=gettext_lazy("Leave empty to lift the lock."),
    )
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=500)


@require_POST
@access.authenticated
def pool_customer_release(request: HttpRequest, pk: int) -> HttpResponse:
    """Return a private customer to its pool (owner or manager), with a reason."""
    customer = get_object_or_404(Customer.objects.visible_to(request.user).select_related("pool"), pk=pk)
    form = ReleaseForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Please give a reason."))
        return redirect(_customer_url(customer))
    try:
        services.customer_release(actor=request.user, customer=customer, reason=form.cleaned_data["reason"])
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _error_text(exc))
        return redirect(_customer_url(customer))
    messages.success(request, _("“%(name)s” is back in the pool.") % {"name": customer})
    return redirect("pool_list")


@require_POST
@access.authenticated
def pool_customer_lock(request: HttpRequest, pk: int) -> HttpResponse:
    """Lock a private customer out of the pool until a date (managers, pool administrators)."""
    customer = get_object_or_404(Customer.objects.visible_to(request.user).select_related("pool"), pk=pk)
    form = LockForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return redirect(_customer_url(customer))
    try:
        services.customer_lock(
            actor=request.user,
            customer=customer,
            until=form.cleaned_data["until"],
            reason=form.cleaned_data["reason"],
        )
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("The pool lock was saved."))
    return redirect(_customer_url(customer))


class PoolForm(forms.ModelForm):
    members = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Members"),
        queryset=User.objects.filter(is_active=True, is_machine=False),
        required=False,
    )
    admins = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Administrators"),
        queryset=User.objects.filter(is_active=True, is_machine=False),
        required=False,
    )

    class Meta:
        model = Pool
        fields = list(services.POOL_SETTINGS)


def _rules_table(pool: Pool) -> tuple[list[str], list[dict[str, Any]]]:
    """Tiers (rows) × triggers (columns) of a pool's rules, untiered first."""
    rules = {(r.trigger, r.tier): r.days for r in pool.rules.all()}
    tiers = sorted({tier for _t, tier in rules} | {""})
    rows = [
        {"tier": tier, "cells": [{"trigger": t, "days": rules.get((t.value, tier))} for t in PoolTrigger]}
        for tier in tiers
    ]
    return [t.label for t in PoolTrigger], rows


def _posted_rules(post: Any) -> tuple[dict[tuple[str, str], int | None], list[str]]:
    rules: dict[tuple[str, str], int | None] = {}
    errors: list[str] = []
    tiers = list(post.getlist("tier"))
    new_tier = (post.get("new_tier") or "").strip()[:20]
    for idx, tier in enumerate([*tiers, new_tier] if new_tier else tiers):
        key_tier = "new" if new_tier and idx == len(tiers) else tier
        for t in PoolTrigger:
            raw = (post.get(f"days__{t.value}__{key_tier}") or "").strip()
            if not raw:
                rules[(t.value, tier)] = None
                continue
            try:
                days = int(raw)
            except ValueError:
                errors.append(_("“%(value)s” is not a number of days.") % {"value": raw})
                continue
            if days < 1:
                errors.append(str(services.ERR_RULE_DAYS))
                continue
            rules[(t.value, tier)] = days
    return rules, errors


@access.authenticated
def pool_settings(request: HttpRequest, pk: int) -> HttpResponse:
    """A pool's settings, people and rules (trigger × tier → days); for its administrators."""
    pool = selectors.pool_get(user=request.user, pk=pk)
    if pool is None or not services.pool_is_admin(pool, request.user):
        raise Http404
    form = PoolForm(
        request.POST or None,
        instance=pool,
        initial={"members": pool.members.all(), "admins": pool.admins.all()},
    )
    rule_errors: list[str] = []
    if request.method == "POST":
        rules, rule_errors = _posted_rules(request.POST)
        if form.is_valid() and not rule_errors:
            data = dict(form.cleaned_data)
            members, admins = data.pop("members"), data.pop("admins")
            pool = Pool.objects.get(pk=pool.pk)
            try:
                services.pool_update(actor=request.user, pool=pool, members=members, admins=admins, **data)
                services.pool_rules_set(actor=request.user, pool=pool, rules=rules)
            except (ValidationError, PermissionDenied) as exc:
                rule_errors.append(_error_text(exc))
            else:
                messages.success(request, _("Pool settings saved."))
                return redirect("pool_settings", pk=pool.pk)
    triggers, rows = _rules_table(pool)
    return render(
        request,
        "customers/pool_settings.html",
        {
            "pool": pool,
            "form": form,
            "triggers": triggers,
            "rows": rows,
            "rule_errors": rule_errors,
            "trigger_keys": [t.value for t in PoolTrigger],
            "is_admin": access.user_has_role(request.user, access.ADMINISTRATOR),
            "can_deactivate": pool.is_active and services.can_deactivate_pool(request.user, pool),
        },
    )


class PoolCreateForm(forms.ModelForm):
    """A new pool: its name, unit (only units the user may create a pool for), people and limits."""

    members = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Members"),
        queryset=User.objects.filter(is_active=True, is_machine=False),
        required=False,
        help_text=gettext_lazy("Reps who may see and claim the pool's customers."),
    )
    admins = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Administrators"),
        queryset=User.objects.filter(is_active=True, is_machine=False),
        required=False,
        help_text=gettext_lazy("People who may change the pool's settings and rules."),
    )

    class Meta:
        model = Pool
        fields = ["name", "org_unit", *services.CREATE_SETTINGS]

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["org_unit"].queryset = services.pool_creatable_units(user).order_by("path")
        self.fields["org_unit"].help_text = gettext_lazy(
            "Customers of this unit and the units below it return to this pool."
        )


@access.roles(access.ADMINISTRATOR, SALES_DIRECTOR)
def pool_create(request: HttpRequest) -> HttpResponse:
    """Create a pool (administrators, sales directors over the unit); it starts with default rules."""
    if not services.can_create_pool(request.user):
        raise Http404
    form = PoolCreateForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        members, admins = data.pop("members"), data.pop("admins")
        name, unit = data.pop("name"), data.pop("org_unit")
        try:
            pool = services.pool_create(
                actor=request.user, name=name, org_unit=unit, members=members, admins=admins, **data
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        except PermissionDenied as exc:
            form.add_error("org_unit", str(exc))
        else:
            messages.success(
                request,
                _("Pool “%(name)s” created with default rules. Review them below.") % {"name": pool.name},
            )
            return redirect("pool_settings", pk=pool.pk)
    return render(
        request, "customers/pool_create.html", {"form": form, "default_rules": _default_rules_text()}
    )


def _default_rules_text() -> list[str]:
    labels = dict(PoolTrigger.choices)
    return [
        _("%(trigger)s: %(days)s days (customers without a tier)") % {"trigger": labels[t], "days": d}
        for t, _tier, d in services.DEFAULT_RULES
    ]


@require_POST
@access.authenticated
def pool_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    """Deactivate a pool (confirmed in the page); refused while customers still wait in it."""
    pool = get_object_or_404(Pool.objects.select_related("org_unit"), pk=pk)
    if not services.can_deactivate_pool(request.user, pool):
        raise Http404
    try:
        services.pool_deactivate(actor=request.user, pool=pool)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _error_text(exc))
        return redirect("pool_settings", pk=pool.pk)
    messages.success(request, _("Pool “%(name)s” deactivated.") % {"name": pool.name})
    return redirect("pool_list")


@require_POST
@access.admin_only
def pool_sweep_now(request: HttpRequest) -> HttpResponse:
    """Enqueue the pool job now and show its progress."""
    from steelyard.customers.tasks import pool_sweep_job

    job = enqueue_job(pool_sweep_job, actor=request.user, label=_("Pool sweep (started by hand)"))
    return redirect("job_detail", pk=job.pk)


# --- the customer page section and the home widget -------------------------------------------

_SINCE_TEXT = {
    PoolTrigger.NO_VISIT: gettext_lazy("No visit since %(since)s; returns to the pool on %(date)s."),
    PoolTrigger.NO_FOLLOWUP: gettext_lazy("No follow-up since %(since)s; returns to the pool on %(date)s."),
    PoolTrigger.NO_OPPORTUNITY: gettext_lazy(
        "No new opportunity since %(since)s; returns to the pool on %(date)s."
    ),
    PoolTrigger.NO_DEAL: gettext_lazy("No deal since %(since)s; returns to the pool on %(date)s."),
}
_TAKEN_TEXT = {
    PoolTrigger.NO_VISIT: gettext_lazy(
        "No visit since it was taken over on %(since)s; returns to the pool on %(date)s."
    ),
    PoolTrigger.NO_FOLLOWUP: gettext_lazy(
        "No follow-up since it was taken over on %(since)s; returns to the pool on %(date)s."
    ),
    PoolTrigger.NO_OPPORTUNITY: gettext_lazy(
        "No new opportunity since it was taken over on %(since)s; returns to the pool on %(date)s."
    ),
    PoolTrigger.NO_DEAL: gettext_lazy(
        "No deal since it was taken over on %(since)s; returns to the pool on %(date)s."
    ),
}


def clock_text(customer: Customer) -> str:
    """ "No visit since 3 March; returns to the pool on 2 June." — or "" when there is no recycle date."""
    from django.utils.formats import date_format

    if customer.recycle_at is None or not customer.recycle_trigger:
        return ""
    since = customer.recycle_since
    texts = _SINCE_TEXT if since is not None else _TAKEN_TEXT
    since = since or customer.owned_since or customer.created_at
    template = texts.get(customer.recycle_trigger)
    if template is None or since is None:
        return ""
    return str(template) % {
        "since": date_format(timezone.localtime(since), "DATE_FORMAT"),
        "date": date_format(customer.recycle_at, "DATE_FORMAT"),
    }


def excluded_text(customer: Customer) -> str:
    """Why a private customer has no recycle date (an exclusion), or ""."""
    from django.utils.formats import date_format

    if customer.locked_until and customer.locked_until >= timezone.localdate():
        return _("Locked by a manager until %(date)s: stays with its owner.") % {
            "date": date_format(customer.locked_until, "DATE_FORMAT")
        }
    if customer.has_open_opportunity:
        return _("Stays with its owner while an opportunity is open.")
    if customer.last_deal_at:
        return _("Stays with its owner: a deal was won on %(date)s.") % {
            "date": date_format(timezone.localtime(customer.last_deal_at), "DATE_FORMAT")
        }
    return ""


def section_context(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    """The pool clock section of the customer page (the customer is already scoped by the page)."""
    user = request.user
    text = clock_text(customer)
    owned = customer.owner_id is not None
    days_left = (customer.recycle_at - timezone.localdate()).days if customer.recycle_at else None
    can_change = owned and (
        customer.owner_id == user.pk
        or Customer.objects.visible_to(user, "change").filter(pk=customer.pk).exists()
    )
    return {
        "summary": text,
        "clock_text": text,
        "excluded_text": "" if text or not owned else excluded_text(customer),
        "days_left": max(days_left, 0) if days_left is not None else None,
        "can_release": can_change,
        "can_lock": owned and services.can_lock(user, customer),
        "can_claim": not owned
        and customer.pool_id is not None
        and services.pool_is_member(customer.pool, user),
    }


def home_widget_context(request: HttpRequest) -> dict[str, Any]:
    rows = [
        {"customer": c, "url": _customer_url(c), "reason": clock_text(c)}
        for c in selectors.customers_about_to_return(user=request.user)[:10]
    ]
    return {"rows": rows, "days": selectors.ABOUT_TO_RETURN_DAYS}
