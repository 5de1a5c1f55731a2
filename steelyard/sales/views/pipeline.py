"""Pipeline pages: the Kanban board (drag a card to another stage), the funnel and its analytics with
their drill-down, and the managers' risk list.

Reads go through ``selectors.pipeline`` (scoped: a rep sees their own deals, a manager their team's);
a move goes through ``services.opportunities.opportunity_stage_move`` (the playbook's gates, audited).
The board works without JavaScript (each card's "move to" menu is a form); ``sales/board.js`` adds
drag and drop, answers in JSON and the gate dialog. Charts are ECharts fed by a ``json_script`` data
island (``sales/funnel.js``): no inline script under the CSP.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString
from django.utils.translation import get_language, pgettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from steelyard.core import access
from steelyard.core.filters import paginate
from steelyard.orders.templatetags.orders_ui import money
from steelyard.sales.models import CloseReason, Opportunity, OpportunityStatus, RiskFlag
from steelyard.sales.selectors import pipeline as sel
from steelyard.sales.services.stages import StageGateBlocked

DRILL_PER_PAGE = 25
RISKS_PER_PAGE = 25
FLAG_LABELS = {f.value: f.label for f in RiskFlag}


def flag_badges(opportunity: Opportunity) -> list[tuple[str, Any]]:
    return [(code, FLAG_LABELS.get(code, code)) for code in opportunity.flags]


def _n(value: Any) -> str:
    return f"{int(value or 0):,}"


def _pct(value: Any) -> str:
    return "—" if value is None else f"{Decimal(value):.1f}%"


def _days(value: Any) -> str:
    return "—" if value is None else _("%(days)s d") % {"days": f"{Decimal(value):.1f}"}


def _cell(text: str, url: str | None = None) -> dict[str, Any]:
    return {"text": text, "url": url}


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


# --- board -------------------------------------------------------------------------------------------


def _board_query(request: HttpRequest) -> str:
    q = request.GET.copy()
    for name in ("offset", "stage", "page"):
        q.pop(name, None)
    return q.urlencode()


def _prepare_cards(cards: list[Opportunity]) -> None:
    for c in cards:
        c.flag_badges = flag_badges(c)  # type: ignore[attr-defined]


@access.authenticated
def pipeline_board(request: HttpRequest) -> HttpResponse:
    ctx = sel.board_context(user=request.user, data=request.GET)
    columns = sel.board_columns(ctx)
    for col in columns:
        _prepare_cards(col.cards)
    query = _board_query(request)
    return render(
        request,
        "sales/pipeline/board.html",
        {
            "ctx": ctx,
            "filter": ctx.filter,
            "columns": columns,
            "open_count": sum(c.count for c in columns if not c.is_closed),
            "open_amount": sum((c.amount for c in columns if not c.is_closed), Decimal("0")),
            "query": query,
            "move_url": f"{reverse('sales_board_move')}?{query}",
            "close_reasons": CloseReason.choices,
            "recent_days": sel.RECENT_CLOSED_DAYS,
        },
    )


@access.authenticated
def pipeline_board_column(request: HttpRequest) -> HttpResponse:
    """More cards of one column ("show more"; htmx swaps the button for them)."""
    ctx = sel.board_context(user=request.user, data=request.GET)
    stage = sel.board_stage(ctx, request.GET.get("stage"))
    if stage is None:
        raise Http404
    try:
        offset = max(0, int(request.GET.get("offset", "0")))
    except ValueError:
        offset = 0
    cards, more = sel.board_column_cards(ctx, stage, offset=offset)
    _prepare_cards(cards)
    return render(
        request,
        "sales/pipeline/_column_more.html",
        {
            "ctx": ctx,
            "stage": stage,
            "cards": cards,
            "more": more,
            "next_offset": offset + len(cards),
            "query": _board_query(request),
            "move_url": f"{reverse('sales_board_move')}?{_board_query(request)}",
        },
    )


def _totals(ctx: sel.BoardContext) -> dict[str, dict[str, str]]:
    totals = sel.board_column_totals(ctx)
    out = {}
    for s in ctx.stages:
        n, amount = totals.get(s.pk, (0, Decimal("0")))
        out[str(s.pk)] = {"count": _n(n), "amount": money(amount)}
    return out


def _error_fields(e: ValidationError) -> dict[str, list[str]]:
    if hasattr(e, "error_dict"):
        return {k: [str(m) for m in v] for k, v in e.message_dict.items()}
    return {"__all__": [str(m) for m in e.messages]}


@access.authenticated
@require_POST
def pipeline_board_move(request: HttpRequest) -> HttpResponse:
    """Move a card: POST ``opportunity``, ``to_stage`` (a stage id), optionally ``request_approval``
    with ``reason``, and for the lost stage ``close_reason`` (+ ``note``). The board's filters ride in
    the query string, so the answer carries the columns' new totals.

    JSON (``Accept: application/json``, board.js): 200 ``{"status": "moved" | "approval_requested"}``,
    409 ``{"status": "gate", "missing": [...]}``, 400 ``{"status": "invalid", "fields": {...}}``,
    403 / 404. Without JavaScript: back to the board with a message.
    """
    from steelyard.sales.services.opportunities import opportunity_stage_move

    ctx = sel.board_context(user=request.user, data=request.GET)
    board_url = f"{reverse('sales_board')}?{_board_query(request)}"
    as_json = _wants_json(request)
    try:
        pk = int(request.POST.get("opportunity", ""))
        stage_id = int(request.POST.get("to_stage", ""))
    except ValueError:
        if as_json:
            return JsonResponse(
                {"status": "invalid", "message": _("Choose a deal and a stage."), "fields": {}}, status=400
            )
        messages.error(request, _("Choose a deal and a stage."))
        return redirect(board_url)
    opp = (
        Opportunity.objects.visible_to(request.user).select_related("stage", "playbook").filter(pk=pk).first()
    )
    if opp is None:
        raise Http404
    stage = opp.playbook.stages.filter(pk=stage_id).first()
    if stage is None:
        message = _("Choose a stage of this deal's process.")
        if as_json:
            return JsonResponse(
                {"status": "invalid", "message": message, "fields": {"to_stage": [message]}}, status=400
            )
        messages.error(request, message)
        return redirect(board_url)
    try:
        result = opportunity_stage_move(
            actor=request.user,
            opportunity=opp,
            to_stage=stage,
            request_approval=request.POST.get("request_approval") in ("1", "true", "on"),
            reason=(request.POST.get("reason") or "").strip(),
            close_reason=(request.POST.get("close_reason") or "").strip(),
            note=(request.POST.get("note") or "").strip(),
        )
    except PermissionDenied as e:
        message = str(e) or _("You may not change this deal.")
        if as_json:
            return JsonResponse({"status": "forbidden", "message": message}, status=403)
        messages.error(request, message)
        return redirect(board_url)
    except StageGateBlocked as e:
        missing = [{"label": m.label, "kind": m.kind, "stage_id": m.stage_id} for m in e.missing]
        message = _("%(deal)s cannot move to %(stage)s yet: required items are missing.") % {
            "deal": opp.name,
            "stage": sel.stage_name(stage.name, stage.name_en),
        }
        if as_json:
            return JsonResponse(
                {
                    "status": "gate",
                    "message": message,
                    "missing": missing,
                    "opportunity_url": opp.get_absolute_url(),
                },
                status=409,
            )
        messages.warning(request, f"{message} {', '.join(m['label'] for m in missing)}")
        return redirect(board_url)
    except ValidationError as e:
        fields = _error_fields(e)
        message = " ".join(m for msgs in fields.values() for m in msgs)
        if as_json:
            return JsonResponse({"status": "invalid", "message": message, "fields": fields}, status=400)
        messages.error(request, message)
        return redirect(board_url)
    if result.approval is not None:
        message = _("Approval requested: %(deal)s moves to %(stage)s once a manager approves.") % {
            "deal": opp.name,
            "stage": sel.stage_name(stage.name, stage.name_en),
        }
        if as_json:
            return JsonResponse(
                {"status": "approval_requested", "message": message, "approval": result.approval.pk}
            )
        messages.success(request, message)
        return redirect(board_url)
    message = _("%(deal)s moved to %(stage)s.") % {
        "deal": opp.name,
        "stage": sel.stage_name(stage.name, stage.name_en),
    }
    if not as_json:
        messages.success(request, message)
        return redirect(board_url)
    fresh, shown = sel.board_card(ctx, opp.pk)
    html = ""
    if fresh is not None:
        _prepare_cards([fresh])
        html = render_to_string(
            "sales/pipeline/_card.html",
            {"o": fresh, "ctx": ctx, "move_url": f"{reverse('sales_board_move')}?{_board_query(request)}"},
            request=request,
        )
    return JsonResponse(
        {
            "status": "moved",
            "message": message,
            "stage": stage.pk,
            "card": html,
            "shown": shown,
            "totals": _totals(ctx),
        }
    )


# --- funnel ------------------------------------------------------------------------------------------


class Links:
    """Drill-down URLs that keep the funnel page's period and filters (the base is built once: a page
    has hundreds of links)."""

    def __init__(self, ctx: sel.FunnelContext) -> None:
        self.params = ctx.params
        self.base = f"{reverse('sales_funnel_drill')}?{urlencode(self.params)}"

    def __call__(self, metric: str, stage: str | None = None, **extra: Any) -> str:
        q: dict[str, Any] = {"metric": metric}
        if stage:
            q["stage"] = stage
        q.update({k: v for k, v in extra.items() if v is not None})
        if any(k in self.params for k in q):  # a breakdown row replacing the page's own filter
            return f"{reverse('sales_funnel_drill')}?{urlencode({**self.params, **q})}"
        return f"{self.base}&{urlencode(q)}"

    def page(self) -> str:
        return f"{reverse('sales_funnel')}?{urlencode(self.params)}"


def _cell_html(cell: dict[str, Any]) -> SafeString:
    if cell.get("url"):
        return format_html('<a href="{}">{}</a>', cell["url"], cell["text"])
    return SafeString(escape(cell["text"]))


def _with_columns(table: dict[str, Any]) -> dict[str, Any]:
    """Each cell learns its column's label (the phone cards show it beside the value) and its HTML
    (a link to its deals, or the plain figure): built here once, the template only places them."""
    columns = [str(c) for c in table["columns"]]
    for row in table["rows"]:
        for cell, col in zip(row["cells"], columns, strict=False):
            cell["col"] = col
            cell["html"] = _cell_html(cell)
    for cell, col in zip(table.get("total") or [], columns, strict=False):
        cell["col"] = col
        cell["html"] = _cell_html(cell)
    return table


def _point(value: Any, url: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"value": None if value is None else float(value), "url": url, **extra}


def _funnel_tables(
    ctx: sel.FunnelContext,
    open_: dict[str, Any],
    conv: dict[str, Any],
    vel: dict[str, Any],
    link: Links,
) -> dict[str, Any]:
    stages = {
        "key": "stages",
        "caption": _("Open deals by stage"),
        "row_header": _("Stage"),
        "columns": [_("Deals"), _("Amount")],
        "rows": [
            {
                "label": r["label"],
                "cells": [
                    _cell(_n(r["count"]), link(sel.M_OPEN, r["code"])),
                    _cell(money(r["amount"]), link(sel.M_OPEN, r["code"])),
                ],
            }
            for r in open_["stages"]
        ],
        "total": [
            _cell(_n(open_["total"]["count"]), link(sel.M_OPEN)),
            _cell(money(open_["total"]["amount"]), link(sel.M_OPEN)),
        ],
    }
    conversion = {
        "key": "conversion",
        "caption": _("Stage-to-stage conversion"),
        "row_header": _("Stage"),
        "columns": [_("Reached"), _("Next stage"), _("Reached the next"), _("Conversion")],
        "rows": [
            {
                "label": r["label"],
                "cells": [
                    _cell(_n(r["reached"]), link(sel.M_REACHED, r["code"])),
                    _cell(r["next_label"] or "—"),
                    _cell(
                        _n(r["next_reached"]) if r["next_code"] else "—",
                        link(sel.M_REACHED, r["next_code"]) if r["next_code"] else None,
                    ),
                    _cell(
                        _pct(r["conversion_pct"]),
                        link(sel.M_REACHED, r["next_code"]) if r["next_code"] else None,
                    ),
                ],
            }
            for r in conv["stages"]
        ],
        "total": None,
    }
    velocity = {
        "key": "velocity",
        "caption": _("Average days per stage"),
        "row_header": _("Stage"),
        "columns": [_("Completed stays"), _("Average days")],
        "rows": [
            {
                "label": r["label"],
                "cells": [
                    _cell(_n(r["stays"]), link(sel.M_STAYED, r["code"]) if r["stays"] else None),
                    _cell(_days(r["avg_days"]), link(sel.M_STAYED, r["code"]) if r["stays"] else None),
                ],
            }
            for r in vel["stages"]
        ],
        "total": [_cell(_n(sum(r["stays"] for r in vel["stages"]))), _cell(_days(vel["total_days"]))],
    }
    return {
        "stages": _with_columns(stages),
        "conversion": _with_columns(conversion),
        "velocity": _with_columns(velocity),
    }


def _outcome_cells(row: dict[str, Any], link: Links, keys: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        _cell(_n(row["open_count"]), link(sel.M_OPEN, **keys)),
        _cell(money(row["open_amount"]), link(sel.M_OPEN, **keys)),
        _cell(_n(row["won_count"]), link(sel.M_WON, **keys)),
        _cell(money(row["won_amount"]), link(sel.M_WON, **keys)),
        _cell(_n(row["lost_count"]), link(sel.M_LOST, **keys)),
        _cell(_pct(row["win_rate_pct"]), link(sel.M_CLOSED, **keys) if row["closed_count"] else None),
        _cell(_days(row["cycle_days"]), link(sel.M_WON, **keys) if row["won_count"] else None),
    ]


def _outcome_table(out: dict[str, Any], link: Links) -> dict[str, Any]:
    dim = out["dimension"]
    param = {"product_line": "product_line", "org_unit": "unit_exact", "owner": "owner"}[dim]
    rows = []
    for r in out["rows"]:
        keys = {param: r["key"]} if r["key"] is not None else {}
        if dim == "org_unit" and r["key"] is None:
            keys = {}
        rows.append({"label": r["label"], "cells": _outcome_cells(r, link, keys)})
    return {
        "key": f"by-{dim.replace('_', '-')}",
        "caption": sel.DIMENSION_LABELS[dim],
        "row_header": {"product_line": _("Product line"), "org_unit": _("Org unit"), "owner": _("Rep")}[dim],
        "columns": [
            _("Open deals"),
            _("Open amount"),
            pgettext("deals", "Won"),
            _("Won amount"),
            pgettext("deals", "Lost"),
            _("Win rate"),
            _("Cycle time"),
        ],
        "rows": rows,
        "total": _outcome_cells(out["total"], link, {}),
        "more": out["more"],
    }


def _charts(
    open_: dict[str, Any], conv: dict[str, Any], vel: dict[str, Any], lines: dict[str, Any], link: Links
) -> dict[str, Any]:
    english = (get_language() or "").startswith("en")
    return {
        "locale": "EN" if english else "ZH",
        "text": {
            "deals": _("Deals"),
            "amount": _("Amount"),
            "reached": _("Reached"),
            "conversion": _("Conversion"),
            "days": _("Average days"),
            "win_rate": _("Win rate"),
            "won": pgettext("deals", "Won"),
            "lost": pgettext("deals", "Lost"),
        },
        "funnel": [
            _point(r["count"], link(sel.M_OPEN, r["code"]), name=r["label"], amount=float(r["amount"]))
            for r in open_["stages"]
        ],
        "reached": {
            "stages": [r["label"] for r in conv["stages"]],
            "values": [_point(r["reached"], link(sel.M_REACHED, r["code"])) for r in conv["stages"]],
        },
        "velocity": {
            "stages": [r["label"] for r in vel["stages"]],
            "values": [_point(r["avg_days"], link(sel.M_STAYED, r["code"])) for r in vel["stages"]],
        },
        "lines": {
            "labels": [r["label"] for r in lines["rows"]],
            "won": [_point(r["won_count"], link(sel.M_WON, product_line=r["key"])) for r in lines["rows"]],
            "lost": [_point(r["lost_count"], link(sel.M_LOST, product_line=r["key"])) for r in lines["rows"]],
        },
    }


@access.authenticated
def pipeline_funnel(request: HttpRequest) -> HttpResponse:
    ctx = sel.funnel_context(user=request.user, data=request.GET)
    link = Links(ctx)
    figures = sel.funnel_figures(ctx)
    open_, conv, vel, outcomes = (
        figures["open"],
        figures["conversion"],
        figures["velocity"],
        figures["outcomes"],
    )
    total = outcomes["product_line"]["total"]
    return render(
        request,
        "sales/pipeline/funnel.html",
        {
            "ctx": ctx,
            "filter": ctx.filter,
            "open": open_,
            "conversion": conv,
            "velocity": vel,
            "total": total,
            "headline": {
                "open": _cell(_n(open_["total"]["count"]), link(sel.M_OPEN)),
                "open_amount": _cell(money(open_["total"]["amount"]), link(sel.M_OPEN)),
                "win_rate": _cell(
                    _pct(total["win_rate_pct"]), link(sel.M_CLOSED) if total["closed_count"] else None
                ),
                "won": _cell(_n(total["won_count"]), link(sel.M_WON)),
                "lost": _cell(_n(total["lost_count"]), link(sel.M_LOST)),
                "cycle": _cell(_days(total["cycle_days"]), link(sel.M_WON) if total["won_count"] else None),
                "overall": _cell(_pct(conv["overall_pct"])),
            },
            "tables": _funnel_tables(ctx, open_, conv, vel, link),
            "breakdowns": [_with_columns(_outcome_table(outcomes[d], link)) for d in sel.DIMENSIONS],
            "charts": _charts(open_, conv, vel, outcomes["product_line"], link),
            "basis_created": ctx.basis == sel.BASIS_CREATED,
        },
    )


@access.authenticated
def pipeline_funnel_drill(request: HttpRequest) -> HttpResponse:
    """The deals behind one number of the funnel page."""
    ctx = sel.funnel_context(user=request.user, data=request.GET, drill=True)
    f = ctx.filter
    valid = f.valid_data
    metric = valid.get("metric") or sel.M_OPEN
    stage_code = valid.get("stage") or None
    stage = ctx.stage(stage_code) if stage_code else None
    if stage_code and stage is None:
        f.add_error(None, str(sel.ERR_STAGE))
    unit_exact = valid.get("unit_exact")
    qs = sel.funnel_drill(ctx, metric=metric, stage=stage_code, unit_exact=unit_exact)
    qs = f.order(qs, valid.get("sort") or f.default_sort)
    page = paginate(request, qs, per_page=DRILL_PER_PAGE)
    for o in page:
        o.flag_badges = flag_badges(o)  # type: ignore[attr-defined]
    unit_label = None
    if unit_exact:
        from steelyard.org.models import OrgUnit

        unit_label = OrgUnit.objects.filter(pk=unit_exact).values_list("name", flat=True).first()
    return render(
        request,
        "sales/pipeline/funnel_drill.html",
        {
            "ctx": ctx,
            "filter": f,
            "page": page,
            "sorts": f.sort_links(request),
            "metric_label": sel.METRIC_LABELS.get(metric, ""),
            "stage": stage,
            "unit_label": unit_label,
            "back": Links(ctx).page(),
        },
    )


# --- risks -------------------------------------------------------------------------------------------


@access.authenticated
def pipeline_risks(request: HttpRequest) -> HttpResponse:
    """Open deals at risk: per rep (how many of each flag) and the list, both scoped."""
    f, qs = sel.risk_list(user=request.user, data=request.GET)
    summary = sel.risk_summary(user=request.user, data=request.GET)
    page = paginate(request, qs, per_page=RISKS_PER_PAGE)
    for o in page:
        o.flag_badges = flag_badges(o)  # type: ignore[attr-defined]
    base = request.GET.copy()
    for name in ("owner", "flag", "page"):
        base.pop(name, None)

    def url(**kw: Any) -> str:
        q = base.copy()
        for k, v in kw.items():
            q[k] = v
        return f"?{q.urlencode()}"

    flags = list(RiskFlag)
    rows = [
        {
            "label": r["owner"],
            "url": url(owner=r["owner_id"]),
            "deals": _cell(_n(r["deals"]), url(owner=r["owner_id"])),
            "amount": money(r["amount"]),
            "flags": [
                _cell(
                    _n(r["flags"][fl.value]),
                    url(owner=r["owner_id"], flag=fl.value) if r["flags"][fl.value] else None,
                )
                for fl in flags
            ],
        }
        for r in summary["rows"]
    ]
    total = summary["total"]
    return render(
        request,
        "sales/pipeline/risks.html",
        {
            "filter": f,
            "page": page,
            "sorts": f.sort_links(request),
            "flags": [(fl.value, fl.label) for fl in flags],
            "rows": rows,
            "more": summary["more"],
            "total": {
                "deals": _cell(_n(total["deals"]), url()),
                "amount": money(total["amount"]),
                "flags": [
                    _cell(_n(total[fl.value]), url(flag=fl.value) if total[fl.value] else None)
                    for fl in flags
                ],
            },
            "open_status": OpportunityStatus.OPEN,
        },
    )
