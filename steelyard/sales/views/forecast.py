"""Forecast screens: the forecast (months × categories, roll-ups, the org tree with managers' adjustments),
snapshots (list, the forecast as of one compared with now, "take a snapshot" for administrators),
forecast accuracy and recalibrated stage probabilities; and the adjustments list.

Every page is open to signed-in users and scoped by the selectors (a rep sees their own figures, a
manager the team's, a director the subtree's). The figures come from ``selectors.forecast`` — the cells,
never the opportunities — and every figure links to the opportunity list behind it. The tree shows the
first two levels; deeper units load their rows on demand (``sales_forecast_rows``, htmx). Charts are
ECharts, drawn by ``sales/forecast.js`` from a ``json_script`` data island (no inline script under the CSP).
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from steelyard.core import access
from steelyard.core.filters import paginate
from steelyard.orders.forms import apply_service_error
from steelyard.orders.templatetags.orders_ui import money
from steelyard.org.models import OrgUnit
from steelyard.sales.forms_forecast import (
    AccuracyFilter,
    AdjustmentFilter,
    AdjustmentForm,
    CalibrationFilter,
    ForecastFilter,
)
from steelyard.sales.models import ForecastCategory, OpportunityStatus
from steelyard.sales.selectors import forecast as sel
from steelyard.sales.services.forecast import forecast_adjustment_create, forecast_snapshot_take

C = ForecastCategory
OPPORTUNITY_LIST = "sales_opportunity_list"
OPEN_PARTS = {C.PIPELINE, C.BEST_CASE, C.COMMIT, C.OMITTED}
CHART_CATEGORIES = (C.PIPELINE, C.BEST_CASE, C.COMMIT, C.CLOSED_WON)
MODE_FORECAST = "forecast"
MODE_COMPARE = "compare"
MODE_ACCURACY = "accuracy"
SNAPSHOTS_PER_PAGE = 25


# --- formatting --------------------------------------------------------------------------------


def _yuan(cents: int | None) -> str:
    """``¥1,234,568`` (whole yuan, grouped); the exact amount goes in the cell's title."""
    if cents is None:
        return "—"
    value = (Decimal(cents) / 100).quantize(Decimal(1), ROUND_HALF_UP)
    sign = "-" if value < 0 else ""
    return f"{sign}¥{abs(value):,}"


def _exact(cents: int | None) -> str:
    return money(sel.cents_to_money(cents)) if cents is not None else "—"


def _delta(cents: int) -> str:
    if cents == 0:
        return "±0"
    return ("+" if cents > 0 else "") + _yuan(cents)


def _pct(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def _month(m: dt.date) -> str:
    return m.strftime("%Y-%m")


def _line(text: str, url: str | None = None, cls: str = "", title: str = "") -> dict[str, Any]:
    return {"text": text, "url": url, "cls": cls, "title": title}


# --- drill-down links ---------------------------------------------------------------------------


def opportunity_list_url() -> str:
    try:
        return reverse(OPPORTUNITY_LIST)
    except NoReverseMatch:  # the opportunities area is wired by its own module
        return "/sales/"


# The opportunity list's GET filters (``steelyard/sales/filters.py``): ``unit`` includes the units below;
# ``category`` won / lost imply the status, the open categories imply ``status=open``.
P_LINE, P_OWNER, P_UNIT, P_CATEGORY = "product_line", "owner", "unit", "category"
P_CLOSE_FROM, P_CLOSE_TO, P_CLOSED_FROM, P_CLOSED_TO = "close_from", "close_to", "closed_from", "closed_to"


class Drill:
    """Links from a figure to the opportunities behind it (the opportunity list's GET filters).

    Open categories: ``category`` + expected close in the month(s); won / lost: ``category`` + closed in
    the month(s). Roll-ups and the weighted figure link to their open part (one ``category`` per open
    category in it); their won part is the "Closed won" figure of the same month.
    """

    def __init__(self, q: sel.ForecastQuery) -> None:
        self.q = q
        self.base = opportunity_list_url()

    def __call__(self, node: sel.Node | None, month: dt.date | None, measure: str) -> str:
        params: list[tuple[str, Any]] = []
        if self.q.product_line_id:
            params.append((P_LINE, self.q.product_line_id))
        if node is not None and node.kind == sel.PERSON:
            params.append((P_OWNER, node.user_id))
            if node.unit_id:
                params.append((P_UNIT, node.unit_id))
        elif node is not None and node.kind == sel.UNIT:
            params.append((P_UNIT, node.unit_id))
        elif self.q.unit is not None:
            params.append((P_UNIT, self.q.unit.pk))
        first = month or self.q.months[0]
        last = sel.month_end(month or self.q.months[-1])
        if measure in (C.CLOSED_WON, C.CLOSED_LOST):
            params += [
                (P_CATEGORY, measure),
                (P_CLOSED_FROM, first.isoformat()),
                (P_CLOSED_TO, last.isoformat()),
            ]
        else:
            params += [(P_CATEGORY, p) for p in sel.MEASURE_PARTS[measure] if p in OPEN_PARTS]
            params += [(P_CLOSE_FROM, first.isoformat()), (P_CLOSE_TO, last.isoformat())]
        return f"{self.base}?{urlencode(params)}"


def _filter_query(request: HttpRequest, drop: tuple[str, ...] = ("page",)) -> str:
    data = request.GET.copy()
    for name in drop:
        data.pop(name, None)
    return data.urlencode()


# --- the tree rows (shared by the pages and the htmx partial) ------------------------------------


class RowBuilder:
    """Turns tree nodes into table rows for one of the three tree tables."""

    def __init__(
        self,
        request: HttpRequest,
        tree: sel.Tree,
        q: sel.ForecastQuery,
        *,
        mode: str,
        measure: str = sel.DEFAULT_MEASURE,
        accuracy: sel.AccuracyResult | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.request = request
        self.tree = tree
        self.q = q
        self.mode = mode
        self.measure = measure
        self.accuracy = accuracy
        self.drill = Drill(q)
        self.adjust_category = sel.ADJUSTMENT_FOR_MEASURE.get(measure)
        self.show_adjusted = (
            mode == MODE_FORECAST
            and tree.show_adjusted
            and self.adjust_category is not None
            and not q.product_line_id
        )
        base = request.GET.copy()
        for name in ("node", "mode", "page"):
            base.pop(name, None)
        base["mode"] = mode
        for k, v in (extra or {}).items():
            base[k] = str(v)
        self.rows_query = base
        self.page_query = _filter_query(request, ("node", "mode", "page", "snapshot"))

    def children_url(self, node: sel.Node) -> str:
        data = self.rows_query.copy()
        data["node"] = node.key
        return f"{reverse('sales_forecast_rows')}?{data.urlencode()}"

    def adjust_url(self, node: sel.Node, month: dt.date) -> str:
        params = {
            "subject": node.subject,
            "month": _month(month),
            "category": self.adjust_category,
            "next": f"{reverse('sales_forecast')}?{self.page_query}",
        }
        return f"{reverse('sales_forecast_adjust')}?{urlencode(params)}"

    def rows(self, nodes: list[sel.Node], *, expand_depth: int = 1) -> list[dict[str, Any]]:
        """``nodes`` and, below each expanded one, its children (to ``expand_depth`` levels)."""
        out: list[dict[str, Any]] = []

        def add(node: sel.Node, level: int, ancestors: list[str]) -> None:
            # Expanded: the top levels, and a unit whose only child is a unit (a chain opens at once).
            only_unit = len(node.children) == 1 and node.children[0].kind == sel.UNIT
            expanded = node.has_children and (level < expand_depth or only_unit)
            out.append(self.row(node, expanded=expanded, loaded=expanded, ancestors=ancestors))
            if expanded:
                for child in node.children:
                    add(child, level if only_unit else level + 1, [*ancestors, node.key])

        for node in nodes:
            add(node, 0, [])
        return out

    def row(self, node: sel.Node, *, expanded: bool, loaded: bool, ancestors: list[str]) -> dict[str, Any]:
        if self.mode == MODE_ACCURACY:
            cells = self._accuracy_cells(node)
        elif self.mode == MODE_COMPARE:
            cells = self._compare_cells(node)
        else:
            cells = self._forecast_cells(node)
        return {
            "key": node.key,
            "parent": node.parent.key if node.parent is not None else "",
            "ancestors": " ".join(ancestors),
            "kind": node.kind,
            "name": node.name,
            "indent": min(node.depth, 5),
            "expandable": node.has_children,
            "expanded": expanded,
            "loaded": loaded,
            "children_url": self.children_url(node) if node.has_children and node.kind != sel.TOTAL else "",
            "cells": cells,
        }

    # forecast: the measure per month and in total, the adjusted figure beside it for managers
    def _forecast_cells(self, node: sel.Node) -> list[dict[str, Any]]:
        cells = []
        for month in [*self.q.months, None]:
            value = node.value(month, self.measure)
            lines = [_line(_yuan(value), self.drill(node, month, self.measure), title=_exact(value))]
            action = None
            if self.show_adjusted and self.adjust_category is not None:
                adjusted = node.adjusted_value(month, self.adjust_category, self.tree.months)
                changed = node.is_adjusted(month, self.adjust_category, self.tree.months)
                in_force = node.adjustment.get((month, self.adjust_category)) if month is not None else None
                title = _("Adjusted: %(amount)s") % {"amount": _exact(adjusted)}
                if in_force is not None:
                    title = _("%(author)s set %(amount)s on %(day)s") % {
                        "author": in_force.author,
                        "amount": _exact(adjusted),
                        "day": timezone.localtime(in_force.created_at).strftime("%Y-%m-%d %H:%M"),
                    }
                lines.append(
                    _line(
                        _yuan(adjusted),
                        cls="small fc-adjusted "
                        + ("fw-semibold text-primary fc-adjusted-set" if changed else "text-body-secondary"),
                        title=title,
                    )
                )
                if month is not None and node.adjustable:
                    action = {"url": self.adjust_url(node, month), "label": _("Adjust")}
            cells.append({"lines": lines, "action": action})
        return cells

    # compare: the snapshot's figure, today's and the movement
    def _compare_cells(self, node: sel.Node) -> list[dict[str, Any]]:
        cells = []
        for month in [*self.q.months, None]:
            then = node.value(month, self.measure, sel.THEN)
            now = node.value(month, self.measure, sel.NOW)
            move = now - then
            cls = "text-success" if move > 0 else "text-danger" if move < 0 else "text-body-secondary"
            cells.append(
                {
                    "lines": [
                        _line(_yuan(then), title=_exact(then)),
                        _line(
                            _yuan(now), self.drill(node, month, self.measure), cls="small", title=_exact(now)
                        ),
                        _line(_delta(move), cls=f"small {cls}", title=_exact(move)),
                    ],
                    "action": None,
                }
            )
        return cells

    # accuracy: per month, then the period's forecast, actual and accuracy
    def _accuracy_cells(self, node: sel.Node) -> list[dict[str, Any]]:
        acc = self.accuracy
        assert acc is not None
        cells = []
        for month in acc.months:
            f, a = acc.forecast(node, month), acc.actual(node, month)
            title = _("Forecast %(forecast)s, won %(actual)s") % {"forecast": _exact(f), "actual": _exact(a)}
            cells.append(
                {
                    "lines": [
                        _line(_pct(acc.accuracy(node, month)), title=title),
                        _line(_yuan(a), self.drill(node, month, C.CLOSED_WON), cls="small", title=_exact(a)),
                    ],
                    "action": None,
                }
            )
        f_total, a_total = acc.forecast_total(node), acc.actual_total(node)
        cells.append({"lines": [_line(_yuan(f_total), title=_exact(f_total))], "action": None})
        cells.append(
            {
                "lines": [_line(_yuan(a_total), self.drill(node, None, C.CLOSED_WON), title=_exact(a_total))],
                "action": None,
            }
        )
        cells.append({"lines": [_line(_pct(acc.accuracy_all(node)), cls="fw-semibold")], "action": None})
        return cells


# --- the forecast page -------------------------------------------------------------------------


def _summary(tree: sel.Tree, q: sel.ForecastQuery, drill: Drill, *, adjusted: bool) -> list[dict[str, Any]]:
    """The grand total: one row per measure (and the adjusted roll-ups for managers), months + total."""
    rows = []
    for measure in sel.SUMMARY_MEASURES:
        rows.append(
            {
                "key": measure,
                "label": str(sel.MEASURE_LABELS[measure]),
                "help": str(sel.MEASURE_HELP.get(measure, "")),
                "rollup": measure
                in (sel.COMMIT_ROLLUP, sel.BEST_CASE_ROLLUP, sel.PIPELINE_ROLLUP, sel.WEIGHTED),
                "cells": [
                    _line(
                        _yuan(tree.total.value(m, measure)),
                        drill(None, m, measure),
                        title=_exact(tree.total.value(m, measure)),
                    )
                    for m in [*q.months, None]
                ],
            }
        )
    if adjusted:
        for category in sel.ADJUSTABLE:
            measure = sel.ADJUSTED_MEASURE[category]
            rows.append(
                {
                    "key": f"adjusted_{category}",
                    "label": _("%(figure)s, adjusted") % {"figure": sel.MEASURE_LABELS[measure]},
                    "help": "",
                    "rollup": True,
                    "adjusted": True,
                    "cells": [
                        _line(
                            _yuan(tree.total.adjusted_value(m, category, tree.months)),
                            title=_exact(tree.total.adjusted_value(m, category, tree.months)),
                        )
                        for m in [*q.months, None]
                    ],
                }
            )
    return rows


def _chart(tree: sel.Tree, q: sel.ForecastQuery, drill: Drill) -> dict[str, Any]:
    def point(cents: int, url: str) -> dict[str, Any]:
        return {"value": float(Decimal(cents) / 100), "url": url}

    return {
        "locale": "EN" if (get_language() or "").startswith("en") else "ZH",
        "months": [_month(m) for m in q.months],
        "bars": [
            {
                "name": str(sel.MEASURE_LABELS[c]),
                "key": str(c),
                "data": [point(tree.total.value(m, c), drill(None, m, c)) for m in q.months],
            }
            for c in CHART_CATEGORIES
        ],
        "line": {
            "name": str(sel.MEASURE_LABELS[sel.WEIGHTED]),
            "data": [
                point(tree.total.value(m, sel.WEIGHTED), drill(None, m, sel.WEIGHTED)) for m in q.months
            ],
        },
    }


def _nav(active: str) -> list[dict[str, Any]]:
    items = [
        ("forecast", _("Forecast"), "sales_forecast"),
        ("snapshots", _("Snapshots"), "sales_forecast_snapshots"),
        ("accuracy", _("Accuracy"), "sales_forecast_accuracy"),
        ("calibration", _("Stage probabilities"), "sales_forecast_calibration"),
        ("adjustments", _("Adjustments"), "sales_forecast_adjustments"),
    ]
    return [
        {"key": k, "label": label, "url": reverse(name), "active": k == active} for k, label, name in items
    ]


def _headers(q: sel.ForecastQuery) -> list[str]:
    return [_month(m) for m in q.months] + [_("Total")]


@access.authenticated
def forecast_page(request: HttpRequest) -> HttpResponse:
    f = ForecastFilter(request.GET, user=request.user)
    q = f.query()
    measure = f.tree_measure
    tree = sel.forecast_tree(request.user, q, adjustments=not q.product_line_id)
    drill = Drill(q)
    builder = RowBuilder(request, tree, q, mode=MODE_FORECAST, measure=measure)
    show_adjusted = tree.show_adjusted and not q.product_line_id
    return render(
        request,
        "sales/forecast/forecast.html",
        {
            "nav": _nav("forecast"),
            "filter": f,
            "q": q,
            "headers": _headers(q),
            "measure": measure,
            "measure_label": sel.MEASURE_LABELS[measure],
            "summary": _summary(tree, q, drill, adjusted=show_adjusted),
            "chart": _chart(tree, q, drill),
            "rows": builder.rows(tree.roots),
            "total_rows": [builder.row(tree.total, expanded=False, loaded=True, ancestors=[])],
            "has_data": bool(tree.roots),
            "show_adjusted": builder.show_adjusted,
            "adjust_hidden_by_line": bool(q.product_line_id) and sel.can_adjust(request.user),
            "can_adjust": tree.can_adjust,
            "definitions": [
                (sel.MEASURE_LABELS[m], sel.MEASURE_HELP[m])
                for m in (sel.COMMIT_ROLLUP, sel.BEST_CASE_ROLLUP, sel.PIPELINE_ROLLUP, sel.WEIGHTED)
            ],
        },
    )


def _within(user: Any, key: str) -> sel.Within:
    if key == sel.NO_UNIT:
        return sel.NO_UNIT
    if not key.startswith("u") or not key[1:].isdigit():
        raise Http404("Unknown row.")
    unit = OrgUnit.objects.filter(pk=int(key[1:])).only("id", "name", "path", "depth").first()
    if unit is None:
        raise Http404("Unknown row.")
    return unit


@access.authenticated
def forecast_rows(request: HttpRequest) -> HttpResponse:
    """The rows below one unit of a tree table (htmx: inserted after the unit's row)."""
    mode = request.GET.get("mode") or MODE_FORECAST
    within = _within(request.user, request.GET.get("node") or "")
    accuracy = None
    extra: dict[str, Any] = {}
    if mode == MODE_ACCURACY:
        af = AccuracyFilter(request.GET, user=request.user)
        data = af.valid_data
        accuracy = sel.forecast_accuracy(
            request.user,
            months=data.get("months") or sel.DEFAULT_ACCURACY_MONTHS,
            basis=data.get("basis") or sel.BASIS_COMMIT,
            product_line_id=data["product_line"].pk if data.get("product_line") else None,
            unit=data.get("unit"),
            within=within,
        )
        tree = accuracy.tree
        q = sel.ForecastQuery(months=accuracy.months, product_line_id=tree_line(data), unit=data.get("unit"))
        measure = sel.DEFAULT_MEASURE
    else:
        f = ForecastFilter(request.GET, user=request.user)
        q = f.query()
        measure = f.tree_measure
        compare = None
        if mode == MODE_COMPARE:
            compare = sel.snapshot_get(_int(request.GET.get("snapshot")))
            extra["snapshot"] = compare.pk
        else:
            mode = MODE_FORECAST
        adjustments = mode == MODE_FORECAST and not q.product_line_id
        tree = sel.forecast_tree(request.user, q, within=within, compare=compare, adjustments=adjustments)
    node = tree.nodes.get(request.GET.get("node") or "")
    if node is None:
        return HttpResponse("")
    builder = RowBuilder(request, tree, q, mode=mode, measure=measure, accuracy=accuracy, extra=extra)
    ancestors = [n.key for n in _chain(node)]
    rows = [builder.row(child, expanded=False, loaded=False, ancestors=ancestors) for child in node.children]
    return render(request, "sales/forecast/_rows.html", {"rows": rows})


def tree_line(data: dict[str, Any]) -> int | None:
    return data["product_line"].pk if data.get("product_line") else None


def _chain(node: sel.Node) -> list[sel.Node]:
    chain = []
    current: sel.Node | None = node
    while current is not None:
        chain.append(current)
        current = current.parent
    return list(reversed(chain))


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404("Not found.")


# --- adjustments -------------------------------------------------------------------------------


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return reverse("sales_forecast")


def _adjust_context(request: HttpRequest, form: AdjustmentForm) -> dict[str, Any]:
    """The subject, its figures for the month (system and adjusted, as on the page) and the history."""
    data = form.data if form.is_bound else form.initial
    subject = sel.parse_subject(data.get("subject"))
    if subject is None:
        raise Http404("Unknown subject.")
    target = sel.subject_resolve(request.user, subject)
    month_field = form.fields["month"]
    try:
        month = month_field.clean(data.get("month"))
    except ValidationError:
        raise Http404("Unknown month.")
    category = data.get("category")
    if category not in sel.ADJUSTABLE:
        raise Http404("Unknown category.")
    q = sel.ForecastQuery(months=[month])
    if subject.kind == "user":
        within: sel.Within = target.org_unit if target.org_unit_id else sel.NO_UNIT
        key = f"p{target.org_unit_id or 0}-{target.pk}"
    else:
        within, key = target, f"u{target.pk}"
    tree = sel.forecast_tree(request.user, q, within=within)
    node = tree.nodes.get(key)
    measure = sel.ADJUSTED_MEASURE[category]
    system = node.value(month, measure) if node is not None else 0
    adjusted = node.adjusted_value(month, category, [month]) if node is not None else system
    return {
        "form": form,
        "target": target,
        "subject": subject,
        "month": month,
        "category_label": dict(sel.ADJUSTABLE_CHOICES)[category],
        "system": _exact(system),
        "adjusted": _exact(adjusted),
        "adjusted_cents": adjusted,
        "history": sel.adjustment_history(request.user, subject, month, category),
        "next": _next_url(request),
    }


@access.roles(*sel.ADJUSTER_ROLES)
def forecast_adjust(request: HttpRequest) -> HttpResponse:
    """A manager's figure for one person or unit, month and roll-up (htmx: the modal's body)."""
    htmx = bool(request.headers.get("HX-Request"))
    template = "sales/forecast/_adjust_form.html" if htmx else "sales/forecast/adjust.html"
    if request.method == "POST":
        form = AdjustmentForm(request.POST)
        ctx = _adjust_context(request, form)
        if form.is_valid():
            subject = form.cleaned_data["subject"]
            target = ctx["target"]
            try:
                forecast_adjustment_create(
                    actor=request.user,
                    month=form.cleaned_data["month"],
                    category=form.cleaned_data["category"],
                    amount=form.cleaned_data["amount"],
                    subject_user=target if subject.kind == "user" else None,
                    subject_unit=target if subject.kind == "unit" else None,
                    note=form.cleaned_data["note"],
                )
            except ValidationError as e:
                apply_service_error(form, e)
            else:
                messages.success(request, _("Your figure was saved; the system figure stays beside it."))
                if htmx:
                    response = HttpResponse(status=204)
                    response["HX-Redirect"] = ctx["next"]
                    return response
                return redirect(ctx["next"])
        return render(request, template, {**ctx, "nav": _nav("forecast")}, status=200 if htmx else 400)
    initial = {k: request.GET.get(k, "") for k in ("subject", "month", "category")}
    form = AdjustmentForm(initial=initial)
    ctx = _adjust_context(request, form)
    form.initial["amount"] = sel.cents_to_money(ctx["adjusted_cents"])
    return render(request, template, {**ctx, "nav": _nav("forecast")})


@access.authenticated
def adjustment_list(request: HttpRequest) -> HttpResponse:
    f = AdjustmentFilter(request.GET, user=request.user)
    page = paginate(request, f.apply(sel.adjustment_list(request.user)))
    return render(
        request,
        "sales/forecast/adjustments.html",
        {
            "nav": _nav("adjustments"),
            "filter": f,
            "page": page,
            "sorts": f.sort_links(request),
            "can_adjust": sel.can_adjust(request.user),
        },
    )


# --- snapshots ---------------------------------------------------------------------------------


@access.authenticated
def snapshot_list(request: HttpRequest) -> HttpResponse:
    page = paginate(request, sel.snapshot_list(), per_page=SNAPSHOTS_PER_PAGE)
    return render(
        request,
        "sales/forecast/snapshots.html",
        {
            "nav": _nav("snapshots"),
            "page": page,
            "is_admin": access.user_has_role(request.user, access.ADMINISTRATOR),
        },
    )


@access.admin_only
@require_POST
def snapshot_take(request: HttpRequest) -> HttpResponse:
    snapshot = forecast_snapshot_take(actor=request.user, weekly=False)
    messages.success(
        request,
        _("Snapshot taken: %(rows)s rows copied from the forecast.") % {"rows": f"{snapshot.rows_count:,}"},
    )
    return redirect("sales_forecast_snapshot", snapshot.pk)


@access.authenticated
def snapshot_detail(request: HttpRequest, pk: int) -> HttpResponse:
    snapshot = sel.snapshot_get(pk)
    data: QueryDict | dict[str, Any] = request.GET
    if not request.GET.get("start"):
        data = request.GET.copy()
        data["start"] = timezone.localtime(snapshot.taken_at).strftime("%Y-%m")
    f = ForecastFilter(data, user=request.user)
    q = f.query()
    measure = f.tree_measure
    tree = sel.forecast_tree(request.user, q, compare=snapshot, adjustments=False)
    builder = RowBuilder(
        request, tree, q, mode=MODE_COMPARE, measure=measure, extra={"snapshot": snapshot.pk}
    )
    drill = Drill(q)
    movement = []
    for m in sel.SUMMARY_MEASURES:
        cells = []
        for month in [*q.months, None]:
            then = tree.total.value(month, m, sel.THEN)
            now = tree.total.value(month, m, sel.NOW)
            cells.append(
                {
                    "then": _yuan(then),
                    "then_title": _exact(then),
                    "now": _yuan(now),
                    "now_title": _exact(now),
                    "url": drill(None, month, m),
                    "move": _delta(now - then),
                    "move_title": _exact(now - then),
                    "sign": (now > then) - (now < then),
                }
            )
        movement.append({"key": m, "label": sel.MEASURE_LABELS[m], "cells": cells})
    return render(
        request,
        "sales/forecast/snapshot_detail.html",
        {
            "nav": _nav("snapshots"),
            "snapshot": snapshot,
            "filter": f,
            "q": q,
            "headers": _headers(q),
            "measure_label": sel.MEASURE_LABELS[measure],
            "movement": movement,
            "rows": builder.rows(tree.roots),
            "total_rows": [builder.row(tree.total, expanded=False, loaded=True, ancestors=[])],
            "has_data": bool(tree.roots),
        },
    )


# --- accuracy ----------------------------------------------------------------------------------


@access.authenticated
def accuracy_page(request: HttpRequest) -> HttpResponse:
    f = AccuracyFilter(request.GET, user=request.user)
    data = f.valid_data
    result = sel.forecast_accuracy(
        request.user,
        months=data.get("months") or sel.DEFAULT_ACCURACY_MONTHS,
        basis=data.get("basis") or sel.BASIS_COMMIT,
        product_line_id=tree_line(data),
        unit=data.get("unit"),
    )
    q = sel.ForecastQuery(months=result.months, product_line_id=tree_line(data), unit=data.get("unit"))
    builder = RowBuilder(request, result.tree, q, mode=MODE_ACCURACY, accuracy=result)
    total = result.tree.total
    drill = Drill(q)
    chart = {
        "locale": "EN" if (get_language() or "").startswith("en") else "ZH",
        "months": [_month(m) for m in result.months],
        "forecast_name": _("Forecast"),
        "actual_name": _("Won"),
        "accuracy_name": _("Accuracy"),
        "forecast": [
            None
            if result.forecast(total, m) is None
            else float(Decimal(result.forecast(total, m) or 0) / 100)
            for m in result.months
        ],
        "actual": [
            {"value": float(Decimal(result.actual(total, m)) / 100), "url": drill(None, m, C.CLOSED_WON)}
            for m in result.months
        ],
        "accuracy": [
            None if result.accuracy(total, m) is None else float(result.accuracy(total, m) or 0)
            for m in result.months
        ],
    }
    snapshots = [{"month": _month(m), "snapshot": result.snapshots.get(m)} for m in result.months]
    return render(
        request,
        "sales/forecast/accuracy.html",
        {
            "nav": _nav("accuracy"),
            "filter": f,
            "result": result,
            "headers": [_month(m) for m in result.months] + [_("Forecast"), _("Won"), _("Accuracy")],
            "rows": builder.rows(result.tree.roots),
            "total_rows": [builder.row(total, expanded=False, loaded=True, ancestors=[])],
            "has_data": bool(result.tree.roots),
            "chart": chart,
            "snapshots": snapshots,
            "any_snapshot": any(s["snapshot"] for s in snapshots),
        },
    )


# --- calibration -------------------------------------------------------------------------------


@access.authenticated
def calibration_page(request: HttpRequest) -> HttpResponse:
    f = CalibrationFilter(request.GET, user=request.user)
    data = f.valid_data
    line = data.get("product_line")
    result = None
    chart: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    if line is not None:
        result = sel.forecast_calibration(
            request.user,
            product_line=line,
            closed_months=int(data["closed"])
            if data.get("closed") is not None
            else sel.DEFAULT_CLOSED_MONTHS,
            unit=data.get("unit"),
        )
        base = opportunity_list_url()

        def link(status: str | None) -> str:
            params: list[tuple[str, Any]] = [(P_LINE, line.pk)]
            if status:
                params.append(("status", status))
            else:
                params += [(P_CATEGORY, C.CLOSED_WON), (P_CATEGORY, C.CLOSED_LOST)]
            if result is not None and result.closed_from is not None:
                params.append((P_CLOSED_FROM, result.closed_from.isoformat()))
            if data.get("unit") is not None:
                params.append((P_UNIT, data["unit"].pk))
            return f"{base}?{urlencode(params)}"

        for st in result.stages:
            rows.append(
                {
                    "stage": st,
                    "configured": _pct(st.configured),
                    "recalibrated": _pct(st.recalibrated),
                    "difference": "—" if st.difference is None else f"{st.difference:+.1f}",
                    "sign": 0 if st.difference is None else (st.difference > 0) - (st.difference < 0),
                    "reached_url": link(None),
                    "won_url": link(OpportunityStatus.WON),
                }
            )
        chart = {
            "locale": "EN" if (get_language() or "").startswith("en") else "ZH",
            "stages": [st.name for st in result.stages],
            "configured_name": _("Configured"),
            "recalibrated_name": _("From history"),
            "configured": [None if st.configured is None else float(st.configured) for st in result.stages],
            "recalibrated": [
                {"value": None if st.recalibrated is None else float(st.recalibrated), "url": link(None)}
                for st in result.stages
            ],
        }
        closed_url, won_url = link(None), link(OpportunityStatus.WON)
    else:
        closed_url = won_url = ""
    return render(
        request,
        "sales/forecast/calibration.html",
        {
            "nav": _nav("calibration"),
            "filter": f,
            "result": result,
            "rows": rows,
            "chart": chart,
            "closed_url": closed_url,
            "won_url": won_url,
        },
    )
