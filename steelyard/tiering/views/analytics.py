"""Tier analytics screens: the charts page (/tiers/analytics/) and its drill-down customer list.

Both are open to every signed-in user and scoped by the selectors (a rep sees their own customers'
figures, a manager their team's, administrators and executives everyone's); the menu offers the page
to managers, directors, executives, marketing and administrators. Every number on the page — a bar,
a slice, a sankey link, a table cell — links to the drill-down list of the customers behind it.

Charts are ECharts, initialised by ``tiering/analytics.js`` from a ``json_script`` data island (the
CSP allows no inline script); labels are translated here, numbers formatted by the browser.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from steelyard.core import access
from steelyard.core.filters import paginate
from steelyard.orders.templatetags.orders_ui import money
from steelyard.tiering.selectors import analytics as sel

DRILLDOWN_PER_PAGE = 25


# --- links and formatting ----------------------------------------------------------------------


class Links:
    """Drill-down URLs that keep the page's model, period and org unit."""

    def __init__(self, ctx: sel.AnalyticsContext) -> None:
        self.base = reverse("tier_analytics_customers")
        self.params: dict[str, Any] = {
            "model": ctx.model.pk,
            "months": ctx.period.months,
            "as_of": ctx.period.end.isoformat(),
        }
        if ctx.unit is not None:
            self.params["unit"] = ctx.unit.pk

    def __call__(self, metric: str, tier: str | None = None, **extra: Any) -> str:
        q = dict(self.params)
        if tier is not None:
            q["tier"] = sel.UNTIERED_PARAM if tier == sel.UNTIERED else tier
        q["metric"] = metric
        q.update({k: v for k, v in extra.items() if v is not None})
        return f"{self.base}?{urlencode(q)}"

    def page(self) -> str:
        return f"{reverse('tier_analytics')}?{urlencode(self.params)}"


# Grouped by thousands in every language, as the order pages write amounts (zh-hans's own number
# format has no separator at all).


def _n(value: Any) -> str:
    return f"{int(value or 0):,}"


def _money(value: Any) -> str:
    return money(value)


def _pct(value: Any) -> str:
    return "—" if value is None else f"{Decimal(value):.1f}%"


def _dec(value: Any) -> str:
    return f"{Decimal(value or 0):,.1f}"


def _cell(text: str, url: str | None = None) -> dict[str, Any]:
    return {"text": text, "url": url}


def _point(value: Any, url: str | None = None, **extra: Any) -> dict[str, Any]:
    """One chart datum: a plain number (floats are fine for drawing) and where a click goes."""
    return {"value": None if value is None else float(value), "url": url, **extra}


# --- tables (the accessible twin of every chart; cards on a phone) ----------------------------------


def _distribution_table(d: dict[str, Any], link: Links) -> dict[str, Any]:
    rows = [
        {
            "label": r["label"],
            "url": link(sel.M_CUSTOMERS, r["tier"]),
            "cells": [
                _cell(_n(r["customers"]), link(sel.M_CUSTOMERS, r["tier"])),
                _cell(_pct(r["customers_pct"])),
                _cell(_money(r["revenue"]), link(sel.M_REVENUE, r["tier"])),
                _cell(_pct(r["revenue_pct"])),
            ],
        }
        for r in d["tiers"]
    ]
    t = d["total"]
    return {
        "key": "distribution",
        "caption": _("Customers and revenue per tier"),
        "columns": [_("Customers"), _("Share of customers"), _("Revenue"), _("Share of revenue")],
        "rows": rows,
        "total": [
            _cell(_n(t["customers"]), link(sel.M_CUSTOMERS)),
            _cell(_pct(100 if t["customers"] else None)),
            _cell(_money(t["revenue"]), link(sel.M_REVENUE)),
            _cell(_pct(100 if t["revenue"] else None)),
        ],
    }


def _growth_table(g: dict[str, Any], link: Links) -> dict[str, Any]:
    def cells(r: dict[str, Any], tier: str | None) -> list[dict[str, Any]]:
        return [
            _cell(_money(r["previous"]), link(sel.M_BUYERS_PREV, tier)),
            _cell(_money(r["current"]), link(sel.M_REVENUE, tier)),
            _cell(_money(r["change"]), link(sel.M_BUYERS, tier)),
            _cell(_pct(r["growth_pct"])),
        ]

    return {
        "key": "growth",
        "caption": _("Revenue growth per tier"),
        "columns": [_("Previous period"), _("This period"), _("Revenue change"), _("Growth")],
        "rows": [
            {"label": r["label"], "url": link(sel.M_BUYERS, r["tier"]), "cells": cells(r, r["tier"])}
            for r in g["tiers"]
        ],
        "total": cells(g["total"], None),
    }


def _retention_table(r: dict[str, Any], link: Links) -> dict[str, Any]:
    def cells(x: dict[str, Any], tier: str | None) -> list[dict[str, Any]]:
        return [
            _cell(_n(x["buyers_previous"]), link(sel.M_BUYERS_PREV, tier)),
            _cell(_n(x["retained"]), link(sel.M_RETAINED, tier)),
            _cell(_n(x["lost"]), link(sel.M_LOST, tier)),
            _cell(_pct(x["retention_pct"])),
            _cell(_n(x["new"]), link(sel.M_NEW, tier)),
        ]

    return {
        "key": "retention",
        "caption": _("Retention per tier"),
        "columns": [
            _("Bought in the previous period"),
            _("Bought again"),
            _("Did not buy again"),
            _("Retention"),
            _("New buyers"),
        ],
        "rows": [
            {"label": x["label"], "url": link(sel.M_BUYERS_PREV, x["tier"]), "cells": cells(x, x["tier"])}
            for x in r["tiers"]
        ],
        "total": cells(r["total"], None),
    }


def _visits_table(v: dict[str, Any], link: Links) -> dict[str, Any]:
    def cells(x: dict[str, Any], tier: str | None) -> list[dict[str, Any]]:
        return [
            _cell(_n(x["customers"]), link(sel.M_CUSTOMERS, tier)),
            _cell(_n(x["planned"]), link(sel.M_PLANNED, tier)),
            _cell(_dec(x["required"]), link(sel.M_PLANNED, tier)),
            _cell(_n(x["done"]), link(sel.M_VISITED, tier)),
            _cell(_pct(x["done_pct"])),
            _cell(_n(x["behind"]), link(sel.M_BEHIND, tier)),
        ]

    return {
        "key": "visits",
        "caption": _("Visits done against required per tier"),
        "columns": [
            _("Customers"),
            _("With a visit plan"),
            _("Visits required"),
            _("Visits done"),
            _("Share done"),
            _("Behind on visits"),
        ],
        "rows": [
            {"label": x["label"], "url": link(sel.M_VISITED, x["tier"]), "cells": cells(x, x["tier"])}
            for x in v["tiers"]
        ],
        "total": cells(v["total"], None),
    }


def _migration_tables(m: dict[str, Any], link: Links) -> list[dict[str, Any]]:
    labels = {t["tier"]: t["label"] for t in m["tiers"]}
    codes = [t["tier"] for t in m["tiers"]]
    tables = []
    if m["runs"]:
        latest = m["runs"][-1]
        flows = {(f["from_tier"], f["to_tier"]): f["customers"] for f in latest["flows"]}
        froms = [c for c in codes if any(s == c for s, _d in flows)]
        tos = [c for c in codes if any(d == c for _s, d in flows)]
        tables.append(
            {
                "key": "migration-matrix",
                "caption": _("Tier migration in the assessment of %(date)s (rows: before, columns: after)")
                % {"date": latest["as_of"].isoformat()},
                "row_header": _("Before → after"),
                "columns": ["→ " + labels[c] for c in tos],
                "rows": [
                    {
                        "label": labels[s],
                        "url": link(sel.M_MIGRATION, None, run=latest["id"], from_tier=_param(s)),
                        "cells": [
                            _cell(
                                _n(flows.get((s, d), 0)),
                                link(sel.M_MIGRATION, d, run=latest["id"], from_tier=_param(s))
                                if flows.get((s, d))
                                else None,
                            )
                            for d in tos
                        ],
                    }
                    for s in froms
                ],
                "total": None,
            }
        )
        tables.append(
            {
                "key": "migration-runs",
                "caption": _("Customers per tier after each assessment"),
                "row_header": _("Assessment"),
                "columns": [labels[c] for c in codes],
                "rows": [
                    {
                        "label": run["as_of"].isoformat(),
                        "url": None,
                        "cells": [
                            _cell(_n(c["customers"]), link(sel.M_MIGRATION, c["tier"], run=run["id"]))
                            for c in run["counts"]
                        ],
                    }
                    for run in reversed(m["runs"])
                ],
                "total": None,
            }
        )
    return tables


def _param(tier: str) -> str:
    return sel.UNTIERED_PARAM if tier == sel.UNTIERED else tier


# --- chart data ---------------------------------------------------------------------------------------


def _charts(
    d: dict[str, Any], g: dict[str, Any], r: dict[str, Any], m: dict[str, Any], v: dict[str, Any], link: Links
) -> dict[str, Any]:
    english = (get_language() or "").startswith("en")
    labels = {t["tier"]: t["label"] for t in m["tiers"]}
    sankey_nodes: list[dict[str, Any]] = []
    sankey_links: list[dict[str, Any]] = []
    stacked: list[dict[str, Any]] = []
    if m["runs"]:
        latest = m["runs"][-1]
        used: dict[str, str] = {}
        for f in latest["flows"]:
            src, dst = f"from:{f['from_tier']}", f"to:{f['to_tier']}"
            used.setdefault(src, labels[f["from_tier"]])
            used.setdefault(dst, labels[f["to_tier"]])
            sankey_links.append(
                {
                    "source": src,
                    "target": dst,
                    "value": f["customers"],
                    "url": link(
                        sel.M_MIGRATION, f["to_tier"], run=latest["id"], from_tier=_param(f["from_tier"])
                    ),
                }
            )
        sankey_nodes = [{"name": k, "label": lab} for k, lab in used.items()]
        for i, t in enumerate(m["tiers"]):
            stacked.append(
                {
                    "name": t["label"],
                    "data": [
                        _point(run["counts"][i]["customers"], link(sel.M_MIGRATION, t["tier"], run=run["id"]))
                        for run in m["runs"]
                    ],
                }
            )
    return {
        "locale": "EN" if english else "ZH",
        "text": {
            "customers": _("Customers"),
            "customers_share": _("Share of customers"),
            "revenue": _("Revenue"),
            "revenue_share": _("Share of revenue"),
            "previous": _("Previous period"),
            "current": _("This period"),
            "retained": _("Bought again"),
            "lost": _("Did not buy again"),
            "required": _("Visits required"),
            "done": _("Visits done"),
        },
        "distribution": {
            "tiers": [x["label"] for x in d["tiers"]],
            "customers_pct": [
                _point(x["customers_pct"], link(sel.M_CUSTOMERS, x["tier"])) for x in d["tiers"]
            ],
            "revenue_pct": [_point(x["revenue_pct"], link(sel.M_REVENUE, x["tier"])) for x in d["tiers"]],
            "revenue": [
                _point(x["revenue"], link(sel.M_REVENUE, x["tier"]), name=x["label"])
                for x in d["tiers"]
                if x["revenue"]
            ],
        },
        "growth": {
            "tiers": [x["label"] for x in g["tiers"]],
            "previous": [_point(x["previous"], link(sel.M_BUYERS_PREV, x["tier"])) for x in g["tiers"]],
            "current": [_point(x["current"], link(sel.M_REVENUE, x["tier"])) for x in g["tiers"]],
        },
        "retention": {
            "tiers": [x["label"] for x in r["tiers"]],
            "retained": [_point(x["retained"], link(sel.M_RETAINED, x["tier"])) for x in r["tiers"]],
            "lost": [_point(x["lost"], link(sel.M_LOST, x["tier"])) for x in r["tiers"]],
        },
        "migration": {
            "runs": [run["as_of"].isoformat() for run in m["runs"]],
            "series": stacked,
            "sankey": {"nodes": sankey_nodes, "links": sankey_links},
        },
        "visits": {
            "tiers": [x["label"] for x in v["tiers"]],
            "required": [_point(x["required"], link(sel.M_PLANNED, x["tier"])) for x in v["tiers"]],
            "done": [_point(x["done"], link(sel.M_VISITED, x["tier"])) for x in v["tiers"]],
        },
    }


def _headline(d: dict[str, Any]) -> str | None:
    """ "Strategic: 8% of customers, 46% of revenue" for the best tier that has customers."""
    for row in d["tiers"]:
        if row["tier"] and row["customers"] and d["total"]["revenue"]:
            return _("%(tier)s: %(customers)s of the customers, %(revenue)s of the revenue") % {
                "tier": row["label"],
                "customers": _pct(row["customers_pct"]),
                "revenue": _pct(row["revenue_pct"]),
            }
    return None


# --- pages ---------------------------------------------------------------------------------------------


@access.authenticated
def tier_analytics(request: HttpRequest) -> HttpResponse:
    ctx, f = sel.analytics_context(user=request.user, data=request.GET)
    if ctx is None:
        return render(request, "tiering/analytics/analytics.html", {"filter": f, "ctx": None})
    link = Links(ctx)
    d, g = sel.tier_distribution(ctx), sel.tier_growth(ctx)
    r, m, v = sel.tier_retention(ctx), sel.tier_migration(ctx), sel.tier_visits(ctx)
    return render(
        request,
        "tiering/analytics/analytics.html",
        {
            "filter": f,
            "ctx": ctx,
            "period": ctx.period,
            "headline": _headline(d),
            "distribution": d,
            "migration": m,
            "tables": {
                "distribution": _distribution_table(d, link),
                "growth": _growth_table(g, link),
                "retention": _retention_table(r, link),
                "visits": _visits_table(v, link),
                "migration": _migration_tables(m, link),
            },
            "charts": _charts(d, g, r, m, v, link),
        },
    )


@access.authenticated
def tier_analytics_customers(request: HttpRequest) -> HttpResponse:
    ctx, f = sel.drilldown_context(user=request.user, data=request.GET)
    if ctx is None:
        return render(request, "tiering/analytics/customers.html", {"filter": f, "ctx": None})
    valid = f.valid_data
    metric = valid.get("metric") or sel.M_CUSTOMERS
    tier = sel.tier_param(valid.get("tier"))
    run = sel.drilldown_run(ctx, valid.get("run"))
    if metric == sel.M_MIGRATION and run is None:
        f.add_error("run", str(sel.ERR_NO_RUN))
    qs = sel.drilldown_customers(
        ctx, tier=tier, metric=metric, run=run, from_tier=sel.tier_param(valid.get("from_tier"))
    )
    qs = f.order(qs, valid.get("sort") or f.default_sort)
    page = paginate(request, qs, per_page=DRILLDOWN_PER_PAGE)
    for c in page:
        c.tier_label = ctx.label(c.tier_key)  # type: ignore[attr-defined]
        c.visits_required = sel.required_visits(c, ctx.period.days)  # type: ignore[attr-defined]
    return render(
        request,
        "tiering/analytics/customers.html",
        {
            "filter": f,
            "ctx": ctx,
            "period": ctx.period,
            "page": page,
            "sorts": f.sort_links(request),
            "tier_label": ctx.label(tier) if tier is not None else _("All tiers"),
            "from_label": ctx.label(sel.tier_param(valid.get("from_tier")) or "")
            if valid.get("from_tier")
            else None,
            "metric_label": sel.METRIC_LABELS.get(metric, ""),
            "run": run,
            "back": Links(ctx).page(),
        },
    )
