"""Strategy menu screens (mounted at /tiers/strategy/).

- The versions list and a version's grid (tiers × entitlements, product-line rows under their tier):
  every signed-in user; drafts only for those who edit them (administrators, sales directors).
- Editing a draft (details, rules), discarding it, and activating it with a confirmation that shows
  what changes: administrators and sales directors (403 for others).
- "What each tier entitles" (read-only, phone first): every signed-in user.
- The customer page's "Tier entitlements" section (``entitlements_section``, registered in
  ``registrations/strategy.py``).

Reads through ``selectors.strategy``; writes through ``services.strategy`` (audited).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from steelyard.core import access
from steelyard.core.filters import paginate
from steelyard.core.models import JobStatus
from steelyard.core.selectors.audit import audit_for_object
from steelyard.customers.forms import apply_service_error
from steelyard.org.roles import SALES_DIRECTOR, SEEDED_ROLES
from steelyard.tiering.forms_strategy import (
    STATE_BADGES,
    STATE_LABELS,
    ActivateForm,
    MenuCreateForm,
    MenuEditForm,
    MenuFilter,
    RuleForm,
)
from steelyard.tiering.models import MenuStatus, Seniority, StrategyMenu, StrategyRule
from steelyard.tiering.selectors import strategy as selectors
from steelyard.tiering.services import strategy as services

EDIT_ROLES = (SALES_DIRECTOR,)

# --- presenting a rule ----------------------------------------------------------------------------


def field_label(name: str) -> str:
    return capfirst(str(StrategyRule._meta.get_field(name).verbose_name))  # type: ignore[union-attr]


def role_label(code: str) -> str:
    """A role's name in the user's language (seeded roles; other roles show their code)."""
    for seeded, name, *_rest in SEEDED_ROLES:
        if seeded == code:
            return _(name)
    return code


def _days(n: int | None, empty: Any = "—") -> str:
    if n is None:
        return str(empty)
    return ngettext("%(n)d day", "%(n)d days", n) % {"n": n}


def _hours(n: int | None) -> str:
    if n is None:
        return "—"
    return ngettext("%(n)d hour", "%(n)d hours", n) % {"n": n}


def _pct(value: Decimal | str | None) -> str:
    value = Decimal(str(value or "0"))
    text = f"{value.quantize(Decimal('0.01')):f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _money(value: Decimal | None) -> str:
    from steelyard.orders.templatetags.orders_ui import money

    return money(value) if value is not None else _("Not set")


def _seniority(code: str) -> str:
    try:
        return str(Seniority(code).label)
    except ValueError:
        return code


def describe(values: Mapping[str, Any] | Any) -> list[dict[str, Any]]:
    """A rule's (or a ``Strategy``'s) values as ``[{key, label, text, items}]`` in display order."""
    get = values.get if isinstance(values, Mapping) else (lambda k, d=None: getattr(values, k, d))
    chain = list(get("approval_chain") or [])
    entitlements = list(get("entitlements") or [])
    texts = {
        "max_discount_pct": _pct(get("max_discount_pct")),
        "approval_chain": " → ".join(role_label(c) for c in chain) if chain else "—",
        "payment_terms_days": _days(get("payment_terms_days")),
        "credit_limit": _money(get("credit_limit")),
        "delivery_priority": str(get("delivery_priority") or "—"),
        "visit_every_days": _days(get("visit_every_days")),
        "visitor_seniority": _seniority(get("visitor_seniority") or ""),
        "escalate_after_days": _days(get("escalate_after_days")),
        "response_hours": _hours(get("response_hours")),
        "resolution_hours": _hours(get("resolution_hours")),
        "pool_recycle_days": _days(get("pool_recycle_days"), _("Pool rules")),
        "entitlements": "; ".join(entitlements) if entitlements else "—",
    }
    return [
        {
            "key": name,
            "label": field_label(name),
            "text": texts[name],
            "items": entitlements if name == "entitlements" else None,
        }
        for name in selectors.RULE_FIELDS
    ]


def _values(rule: StrategyRule) -> dict[str, Any]:
    return {name: getattr(rule, name) for name in selectors.RULE_FIELDS}


def tier_name(code: str, labels: Mapping[str, str]) -> str:
    if not code:
        return _("Customers without a tier")
    return labels.get(code, code)


def menu_grid(menu: StrategyMenu, rules: list[StrategyRule]) -> list[dict[str, Any]]:
    """Rows of a version's grid: each tier (catalogue order, others, then untiered) with its rule and
    its product-line rules; tiers without a rule say where they fall back to."""
    labels = dict(selectors.tier_catalogue())
    by_tier: dict[str, dict[str, Any]] = {}
    for r in rules:
        slot = by_tier.setdefault(r.tier, {"rule": None, "lines": []})
        if r.product_line_id is None:
            slot["rule"] = r
        else:
            slot["lines"].append(r)
    order = list(labels) + sorted(t for t in by_tier if t and t not in labels) + [""]
    rows = []
    for code in order:
        slot = by_tier.get(code, {"rule": None, "lines": []})
        rule = slot["rule"]
        rows.append(
            {
                "tier": code,
                "label": tier_name(code, labels),
                "rule": rule,
                "cells": describe(_values(rule)) if rule else None,
                "lines": [
                    {"rule": lr, "line": lr.product_line, "cells": describe(_values(lr))}
                    for lr in slot["lines"]
                ],
            }
        )
    return rows


def grid_columns(
    rows: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The grid turned for the screen: ``(columns, field rows, tiers without a rule)``.

    One column per rule (a tier's rule, then its product-line rules), one row per field: five tiers
    fit the width of a laptop where twelve fields would not.
    """
    columns: list[dict[str, Any]] = []
    missing = []
    for row in rows:
        if row["rule"] is not None:
            columns.append(
                {
                    "tier": row["tier"],
                    "label": row["label"],
                    "line": None,
                    "rule": row["rule"],
                    "cells": row["cells"],
                }
            )
        elif not row["lines"]:
            missing.append(row)
        for lr in row["lines"]:
            columns.append(
                {
                    "tier": row["tier"],
                    "label": row["label"],
                    "line": lr["line"],
                    "rule": lr["rule"],
                    "cells": lr["cells"],
                }
            )
    field_rows = [
        {
            "key": name,
            "label": field_label(name),
            "cells": [{"column": col, **col["cells"][i]} for col in columns],
        }
        for i, name in enumerate(selectors.RULE_FIELDS)
    ]
    return columns, field_rows, missing


def _state(menu: StrategyMenu, today: dt.date) -> dict[str, Any]:
    state = selectors.menu_state(menu, today)
    return {"code": state, "label": STATE_LABELS[state], "badge": STATE_BADGES[state]}


# --- versions -----------------------------------------------------------------------------------


def _can_edit(user: Any) -> bool:
    return services.can_edit_strategy(user)


def _menu(request: HttpRequest, pk: int) -> StrategyMenu:
    """A version the user may see: drafts only for their editors (404 otherwise)."""
    menu = selectors.menu_get(pk=pk)
    if menu is None or (menu.status == MenuStatus.DRAFT and not _can_edit(request.user)):
        raise Http404("No such strategy menu.")
    return menu


@access.authenticated
def menu_list(request: HttpRequest) -> HttpResponse:
    f = MenuFilter(request.GET, user=request.user)
    qs = selectors.menu_list()
    if not _can_edit(request.user):
        qs = qs.exclude(status=MenuStatus.DRAFT)
    page = paginate(request, f.apply(qs))
    today = timezone.localdate()
    for m in page.object_list:
        m.state = _state(m, today)  # type: ignore[attr-defined]
    current = selectors.menu_in_force(today)
    return render(
        request,
        "tiering/strategy/menu_list.html",
        {
            "filter": f,
            "page": page,
            "sorts": f.sort_links(request),
            "can_edit": _can_edit(request.user),
            "current": current,
        },
    )


@access.authenticated
def menu_detail(request: HttpRequest, pk: int) -> HttpResponse:
    menu = _menu(request, pk)
    rules = selectors.menu_rules(menu)
    today = timezone.localdate()
    rows = menu_grid(menu, rules)
    columns, field_rows, missing = grid_columns(rows)
    return render(
        request,
        "tiering/strategy/menu_detail.html",
        {
            "menu": menu,
            "state": _state(menu, today),
            "rows": rows,
            "columns": columns,
            "field_rows": field_rows,
            "missing": missing,
            "rule_count": len(rules),
            "can_edit": _can_edit(request.user) and menu.status == MenuStatus.DRAFT,
            "can_copy": _can_edit(request.user),
            "audit_entries": (
                audit_for_object(user=request.user, obj=menu, limit=30) if _can_edit(request.user) else []
            ),
        },
    )


@access.roles(*EDIT_ROLES)
def menu_create(request: HttpRequest) -> HttpResponse:
    form = MenuCreateForm(request.POST or None, initial=request.GET or None)
    if request.method == "POST" and form.is_valid():
        try:
            menu = services.strategy_menu_create(
                actor=request.user,
                name=form.cleaned_data["name"],
                notes=form.cleaned_data["notes"],
                source=form.cleaned_data["source"],
            )
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(
                request,
                _("Draft v%(version)s created. Change its rules, then activate it.")
                % {"version": menu.version},
            )
            return redirect("tier_strategy_detail", menu.pk)
    return render(request, "tiering/strategy/menu_form.html", {"form": form, "title": _("New version")})


@access.roles(*EDIT_ROLES)
def menu_edit(request: HttpRequest, pk: int) -> HttpResponse:
    menu = _menu(request, pk)
    if menu.status != MenuStatus.DRAFT:
        messages.error(request, str(services.ERR_LOCKED))
        return redirect("tier_strategy_detail", menu.pk)
    initial = {"name": menu.name, "notes": menu.notes, "effective_from": menu.effective_from}
    form = MenuEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.strategy_menu_update(actor=request.user, menu=menu, **form.cleaned_data)
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(request, _("Saved."))
            return redirect("tier_strategy_detail", menu.pk)
    return render(
        request,
        "tiering/strategy/menu_form.html",
        {"form": form, "menu": menu, "title": _("Draft v%(version)s") % {"version": menu.version}},
    )


@access.roles(*EDIT_ROLES)
@require_POST
def menu_delete(request: HttpRequest, pk: int) -> HttpResponse:
    menu = _menu(request, pk)
    try:
        services.strategy_menu_delete(actor=request.user, menu=menu)
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
        return redirect("tier_strategy_detail", menu.pk)
    messages.success(request, _("Draft v%(version)s discarded.") % {"version": menu.version})
    return redirect("tier_strategy_list")


def _rule_form_page(
    request: HttpRequest, menu: StrategyMenu, form: RuleForm, rule: StrategyRule | None
) -> HttpResponse:
    labels = dict(selectors.tier_catalogue())
    return render(
        request,
        "tiering/strategy/rule_form.html",
        {
            "menu": menu,
            "form": form,
            "rule": rule,
            "rule_title": (
                " · ".join(
                    [tier_name(rule.tier, labels)]
                    + ([str(rule.product_line)] if rule.product_line_id else [])
                )
                if rule
                else _("New rule")
            ),
        },
    )


def _draft(request: HttpRequest, pk: int) -> StrategyMenu | None:
    menu = _menu(request, pk)
    if menu.status != MenuStatus.DRAFT:
        messages.error(request, str(services.ERR_LOCKED))
        return None
    return menu


@access.roles(*EDIT_ROLES)
def rule_create(request: HttpRequest, pk: int) -> HttpResponse:
    menu = _draft(request, pk)
    if menu is None:
        return redirect("tier_strategy_detail", pk)
    extra = sorted({r.tier for r in menu.rules.all()})
    initial = {
        k: (list(v) if isinstance(v, tuple) else v)
        for k, v in selectors.DEFAULTS.items()
        if k != "entitlements"
    }
    initial["approval_chain"] = ""
    if request.GET.get("tier"):
        initial["tier"] = request.GET["tier"]
    form = RuleForm(request.POST or None, extra_tiers=extra, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.strategy_rule_set(
                actor=request.user,
                menu=menu,
                tier=form.cleaned_data["tier_code"],
                product_line=form.cleaned_data.get("product_line"),
                values=form.rule_values(),
            )
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(request, _("Rule saved."))
            return redirect("tier_strategy_detail", menu.pk)
    return _rule_form_page(request, menu, form, None)


def _rule(menu: StrategyMenu, rule_pk: int) -> StrategyRule:
    rule = StrategyRule.objects.select_related("product_line").filter(menu=menu, pk=rule_pk).first()
    if rule is None:
        raise Http404("No such rule.")
    return rule


@access.roles(*EDIT_ROLES)
def rule_edit(request: HttpRequest, pk: int, rule_pk: int) -> HttpResponse:
    menu = _draft(request, pk)
    if menu is None:
        return redirect("tier_strategy_detail", pk)
    rule = _rule(menu, rule_pk)
    form = RuleForm(request.POST or None, fixed_key=True, initial=RuleForm.initial_for(rule))
    if request.method == "POST" and form.is_valid():
        try:
            services.strategy_rule_set(
                actor=request.user,
                menu=menu,
                tier=rule.tier,
                product_line=rule.product_line,
                values=form.rule_values(),
            )
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(request, _("Rule saved."))
            return redirect("tier_strategy_detail", menu.pk)
    return _rule_form_page(request, menu, form, rule)


@access.roles(*EDIT_ROLES)
@require_POST
def rule_delete(request: HttpRequest, pk: int, rule_pk: int) -> HttpResponse:
    menu = _draft(request, pk)
    if menu is None:
        return redirect("tier_strategy_detail", pk)
    rule = _rule(menu, rule_pk)
    try:
        services.strategy_rule_delete(actor=request.user, rule=rule)
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
    else:
        messages.success(request, _("Rule deleted."))
    return redirect("tier_strategy_detail", menu.pk)


def menu_diff(old: selectors.MenuInForce, new: selectors.MenuInForce) -> list[dict[str, Any]]:
    """What changes from ``old`` to ``new``: per rule key, the fields whose values differ."""
    labels = dict(selectors.tier_catalogue())
    from steelyard.catalog.models import ProductLine

    lines = {
        pl.pk: pl
        for pl in ProductLine.objects.filter(
            pk__in={k[1] for k in (*old.rules, *new.rules) if k[1] is not None}
        )
    }
    out = []
    keys = sorted(set(old.rules) | set(new.rules), key=lambda k: (k[0] == "", k[0], k[1] or 0))
    for key in keys:
        before, after = old.rules.get(key), new.rules.get(key)
        title = tier_name(key[0], labels) + (f" · {lines[key[1]]}" if key[1] in lines else "")
        if before is None or after is None:
            out.append({"title": title, "added": before is None, "removed": after is None, "fields": []})
            continue
        b_cells = {c["key"]: c for c in describe(before)}
        a_cells = {c["key"]: c for c in describe(after)}
        fields = [
            {"label": a_cells[name]["label"], "before": b_cells[name]["text"], "after": a_cells[name]["text"]}
            for name in selectors.RULE_FIELDS
            if b_cells[name]["text"] != a_cells[name]["text"]
        ]
        if fields:
            out.append({"title": title, "added": False, "removed": False, "fields": fields})
    return out


@access.roles(*EDIT_ROLES)
def menu_activate(request: HttpRequest, pk: int) -> HttpResponse:
    menu = _menu(request, pk)
    if menu.status != MenuStatus.DRAFT:
        messages.error(request, str(services.ERR_NOT_DRAFT))
        return redirect("tier_strategy_detail", menu.pk)
    today = timezone.localdate()
    start = menu.effective_from if menu.effective_from and menu.effective_from >= today else today
    form = ActivateForm(request.POST or None, initial={"effective_from": start})
    if request.method == "POST" and form.is_valid():
        try:
            menu = services.strategy_menu_activate(
                actor=request.user, menu=menu, effective_from=form.cleaned_data["effective_from"]
            )
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            if menu.effective_from == today:
                msg = _("Version %(version)s is in force from today.") % {"version": menu.version}
            else:
                msg = _("Version %(version)s takes effect on %(date)s.") % {
                    "version": menu.version,
                    "date": menu.effective_from.isoformat(),
                }
            messages.success(request, msg)
            job = getattr(menu, "apply_job", None)
            if job is not None and job.status != JobStatus.SUCCESSFUL:
                return redirect("job_detail", job.pk)
            return redirect("tier_strategy_detail", menu.pk)
    current = selectors.menu_in_force(today)
    draft = selectors.menu_snapshot(menu, on=today)
    tiers, others, named = services.pool_days_changes(current, draft)
    return render(
        request,
        "tiering/strategy/menu_activate.html",
        {
            "menu": menu,
            "form": form,
            "current": current,
            "changes": menu_diff(current, draft),
            "pool_tiers": sorted(tiers),
            "pool_others": others,
            "has_rules": bool(draft.rules),
        },
    )


# --- what each tier entitles ------------------------------------------------------------------------


@access.authenticated
def entitlements(request: HttpRequest) -> HttpResponse:
    """The menu in force, tier by tier, in plain words (read-only; every signed-in user)."""
    today = timezone.localdate()
    current = selectors.menu_in_force(today)
    menu = StrategyMenu.objects.filter(pk=current.menu_id).first() if current.menu_id else None
    rows = menu_grid(menu, selectors.menu_rules(menu)) if menu else []
    upcoming = (
        StrategyMenu.objects.filter(status=MenuStatus.ACTIVE, effective_from__gt=today)
        .order_by("effective_from", "version")
        .first()
    )
    return render(
        request,
        "tiering/strategy/entitlements.html",
        {
            "current": current,
            "menu": menu,
            "rows": rows,
            "upcoming": upcoming,
            "can_edit": _can_edit(request.user),
        },
    )


# --- the customer page's "Tier entitlements" section ----------------------------------------------


def entitlements_section(request: HttpRequest, customer: Any) -> dict[str, Any]:
    """What the customer's tier entitles it to, with its own terms where it has them (1–3 queries)."""
    from steelyard.customers.selectors.activities import visit_frequency_for

    if getattr(customer, "merged_into_id", None):
        return {"hidden": True}
    today = timezone.localdate()
    menu = selectors.menu_in_force(today)
    strategy = selectors.strategy_for(customer, on=today, menu=menu)
    terms = selectors.customer_credit_terms(customer, on=today, menu=menu)
    cells = {c["key"]: c for c in describe(strategy)}
    frequency = visit_frequency_for(customer, menu=menu)
    own_limit = customer.credit_limit is not None
    own_terms = customer.payment_terms_days is not None
    items = [
        ("max_discount_pct", cells["max_discount_pct"]["text"], ""),
        ("approval_chain", cells["approval_chain"]["text"], ""),
        ("payment_terms_days", _days(terms.payment_terms_days), _("own terms") if own_terms else ""),
        ("credit_limit", _money(terms.credit_limit), _("own limit") if own_limit else ""),
        ("delivery_priority", cells["delivery_priority"]["text"], ""),
        (
            "visit_every_days",
            _days(frequency),
            _("own frequency") if customer.visit_every_days else "",
        ),
        ("visitor_seniority", cells["visitor_seniority"]["text"], ""),
        ("escalate_after_days", cells["escalate_after_days"]["text"], ""),
        ("response_hours", cells["response_hours"]["text"], ""),
        ("resolution_hours", cells["resolution_hours"]["text"], ""),
        ("pool_recycle_days", cells["pool_recycle_days"]["text"], ""),
    ]
    lines: list[dict[str, Any]] = []
    line_ids = sorted({line for (_tier, line) in menu.rules if line is not None})
    if line_ids:
        from steelyard.catalog.models import ProductLine
        from steelyard.tiering.models import CustomerTier

        line_tiers = {
            line: selectors.effective_line_tier(tier, o_tier, o_until, today)
            for line, tier, o_tier, o_until in CustomerTier.objects.filter(
                customer_id=customer.pk, model__product_line_id__in=line_ids, model__is_active=True
            ).values_list("model__product_line_id", "tier", "override_tier", "override_until")
        }
        for pl in ProductLine.objects.filter(pk__in=line_ids).order_by("sort_order", "code"):
            s = menu.strategy(line_tiers.get(pl.pk, customer.tier or ""), pl.pk)
            if s.source in (selectors.SOURCE_TIER_LINE, selectors.SOURCE_UNTIERED_LINE):
                c = {x["key"]: x for x in describe(s)}
                lines.append(
                    {
                        "line": pl,
                        "tier": s.tier,
                        "discount": c["max_discount_pct"]["text"],
                        "priority": c["delivery_priority"]["text"],
                        "response": c["response_hours"]["text"],
                    }
                )
    return {
        "menu": menu,
        "strategy": strategy,
        "tier_code": customer.tier or "",
        "items": [{"key": k, "label": field_label(k), "text": t, "note": n} for k, t, n in items],
        "entitlement_items": list(strategy.entitlements),
        "lines": lines,
        "from_untiered": strategy.source == selectors.SOURCE_UNTIERED and bool(customer.tier),
        "entitlements_url": reverse("tier_entitlements"),
    }
