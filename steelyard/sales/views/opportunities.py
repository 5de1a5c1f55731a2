"""Opportunity pages: the list (filters, search, sort, cards on a phone, CSV export), create/edit, the
phone-friendly opportunity page with its stage checklist and gates, and the actions on it (htmx: each
answers with the page's main block re-rendered; without JavaScript, a redirect or the page with errors).

Reads go through ``selectors.opportunities`` (scoped; out of scope is 404), writes through
``services.opportunities`` (audited). The customer page's "Opportunities" section and the home widget
contexts live here too (registered in ``registrations/opportunities.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from steelyard.catalog.models import Product, ProductKind
from steelyard.core import access
from steelyard.core.exports import csv_response
from steelyard.core.filters import paginate
from steelyard.core.registry import registry
from steelyard.core.scopes import CHANGE
from steelyard.core.services.audit import audit_record
from steelyard.customers.forms import apply_service_error
from steelyard.customers.models import Customer
from steelyard.sales.filters import OpportunityFilter
from steelyard.sales.forms_opportunities import (
    ChecklistForm,
    CloseForm,
    CompetitorForm,
    ContactRoleForm,
    LineFormSet,
    MemberForm,
    MoveForm,
    OpportunityForm,
    ReopenForm,
)
from steelyard.sales.models import CloseReason, Opportunity, OpportunitySource, PlaybookStage
from steelyard.sales.selectors import opportunities as selectors
from steelyard.sales.services import opportunities as services
from steelyard.sales.services.stages import StageGateBlocked

RECORD_TYPE = "sales.opportunity"
EXPORT_CAP = 100_000
AUDIT_VERB_EXPORT = "sales.opportunity_export"


def _is_htmx(request: HttpRequest) -> bool:
    return bool(request.headers.get("HX-Request"))


# --- list and export -------------------------------------------------------------------------------


@access.authenticated
def opportunity_list(request: HttpRequest) -> HttpResponse:
    f = OpportunityFilter(request.GET, user=request.user)
    page = paginate(request, selectors.opportunity_list(user=request.user, filters=request.GET))
    for o in page.object_list:
        o.flag_badges = selectors.flag_badges(o)
    without_customer = request.GET.copy()
    for name in ("customer", "page"):
        without_customer.pop(name, None)
    customer_pk = f.valid_data.get("customer")
    filter_customer = (
        Customer.objects.visible_to(request.user).filter(pk=customer_pk).only("id", "legal_name").first()
        if customer_pk
        else None
    )
    return render(
        request,
        "sales/opportunities/list.html",
        {
            "filter": f,
            "page": page,
            "sorts": f.sort_links(request),
            "query": page.querystring,
            "filter_customer": filter_customer,
            "clear_customer_url": f"?{without_customer.urlencode()}",
            "today": timezone.localdate(),
        },
    )


def _export_rows(request: HttpRequest) -> tuple[list[str], Iterator[list[Any]], int]:
    qs = selectors.opportunity_list(user=request.user, filters=request.GET).select_related("org_unit")[
        :EXPORT_CAP
    ]
    header = [
        _("Number"),
        _("Name"),
        _("Customer"),
        _("Product line"),
        _("Stage"),
        _("Status"),
        _("Amount"),
        _("Currency"),
        _("Probability (%)"),
        _("Weighted amount"),
        _("Forecast category"),
        _("Expected close date"),
        _("Closed on"),
        _("Owner"),
        _("Org unit"),
        _("Risks"),
        _("Next step"),
        _("Last activity"),
    ]
    count = qs.count()

    def rows() -> Iterator[list[Any]]:
        for o in qs.iterator(chunk_size=2000):
            yield [
                o.number,
                o.name,
                o.customer.legal_name,
                str(o.product_line),
                selectors.stage_name(o.stage),
                o.get_status_display(),
                f"{o.amount:.2f}",
                o.currency,
                f"{o.probability:.2f}",
                f"{o.weighted_amount:.2f}",
                o.get_forecast_category_display(),
                o.expected_close_date.isoformat(),
                o.closed_on.isoformat() if o.closed_on else "",
                str(o.owner),
                str(o.org_unit) if o.org_unit_id else "",
                ", ".join(str(label) for _code, label in selectors.flag_badges(o)),
                o.next_step,
                timezone.localtime(o.last_activity_at).strftime("%Y-%m-%d %H:%M"),
            ]

    return header, rows(), count


@access.authenticated
def opportunity_export(request: HttpRequest) -> HttpResponse:
    """The current filtered list as CSV (UTF-8 with BOM for Excel), streamed, scoped and capped."""
    header, rows, count = _export_rows(request)
    audit_record(
        actor=request.user,
        action="action",
        verb=AUDIT_VERB_EXPORT,
        object_repr=_("Opportunity export"),
        extra={"format": "csv", "rows": count, "filters": request.GET.urlencode()[:1000]},
    )
    return csv_response("opportunities", header, rows)


# --- create and edit ---------------------------------------------------------------------------------


@access.authenticated
def opportunity_new(request: HttpRequest) -> HttpResponse:
    """A new deal; from a customer's page (``?customer=``) the customer is fixed."""
    customer = None
    customer_pk = request.GET.get("customer")
    if customer_pk:
        try:
            customer = (
                Customer.objects.visible_to(request.user, CHANGE)
                .filter(pk=int(customer_pk), merged_into__isnull=True)
                .first()
            )
        except (TypeError, ValueError):
            customer = None
        if customer is None:
            raise Http404("No such customer.")
    form = OpportunityForm(
        request.POST or None,
        user=request.user,
        customer=customer,
        can_reassign=services.is_manager(request.user),
    )
    if request.method == "POST" and form.is_valid():
        try:
            opp = services.opportunity_create(actor=request.user, **form.create_kwargs())
        except ValidationError as e:
            apply_service_error(form, e)
        except PermissionDenied as e:
            form.add_error("customer" if "customer" in form.fields else None, str(e))
        else:
            messages.success(request, _("Opportunity %(number)s created.") % {"number": opp.number})
            return redirect("sales_opportunity_detail", opp.pk)
    cancel = customer.get_absolute_url() if customer is not None else reverse("sales_opportunity_list")
    return render(
        request,
        "sales/opportunities/form.html",
        {"form": form, "title": _("New opportunity"), "cancel_url": cancel, "customer": customer},
        status=400 if request.method == "POST" else 200,
    )


@access.authenticated
def opportunity_edit(request: HttpRequest, pk: int) -> HttpResponse:
    opp = selectors.opportunity_get(user=request.user, pk=pk, action=CHANGE)
    form = OpportunityForm(
        request.POST or None,
        user=request.user,
        opportunity=opp,
        can_reassign=services.is_manager(request.user),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.opportunity_update(actor=request.user, opportunity=opp, **form.update_kwargs())
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(request, _("Saved."))
            return redirect("sales_opportunity_detail", opp.pk)
    return render(
        request,
        "sales/opportunities/form.html",
        {
            "form": form,
            "opportunity": opp,
            "title": _("Edit %(number)s") % {"number": opp.number},
            "cancel_url": opp.get_absolute_url(),
        },
        status=400 if request.method == "POST" else 200,
    )


def _products_for(opp: Opportunity) -> Any:
    """The catalogue the solution is configured from: the deal's product line (machines, options, parts)
    and service products of any line; products already on the deal stay choosable."""
    on_deal = opp.lines.filter(product__isnull=False).values("product_id")
    return (
        Product.objects.filter(
            Q(is_active=True, product_line_id=opp.product_line_id)
            | Q(is_active=True, kind=ProductKind.SERVICE)
            | Q(pk__in=on_deal)
        )
        .only("id", "code", "name", "kind")
        .order_by("kind", "code")
    )


@access.authenticated
def opportunity_lines(request: HttpRequest, pk: int) -> HttpResponse:
    """Configure the solution: machines, their options (by line number), parts and service contracts."""
    opp = selectors.opportunity_get(user=request.user, pk=pk, action=CHANGE)
    products = _products_for(opp)
    lines = list(opp.lines.select_related("parent").order_by("order", "id"))
    numbers = {line.pk: i + 1 for i, line in enumerate(lines)}
    initial = [
        {
            "product": line.product_id,
            "kind": line.kind,
            "description": line.description,
            "quantity": line.quantity,
            "unit_price": line.unit_price,
            "parent": numbers.get(line.parent_id) if line.parent_id else None,
        }
        for line in lines
    ]
    formset = LineFormSet(request.POST or None, initial=initial, products=products, prefix="lines")
    errors: list[str] = []
    if request.method == "POST" and formset.is_valid():
        try:
            services.opportunity_lines_set(actor=request.user, opportunity=opp, lines=formset.service_lines())
        except ValidationError as e:
            errors = list(e.messages)
        else:
            messages.success(request, _("The solution was saved."))
            return redirect(f"{opp.get_absolute_url()}#lines")
    return render(
        request,
        "sales/opportunities/lines_form.html",
        {"opportunity": opp, "formset": formset, "errors": errors},
        status=400 if request.method == "POST" else 200,
    )


# --- the opportunity page -----------------------------------------------------------------------------


def _render_sections(request: HttpRequest, opp: Opportunity) -> list[dict[str, Any]]:
    """Each section other modules registered for opportunities, rendered with its own (scoped) context."""
    out = []
    for section in registry.sections_for(RECORD_TYPE, request.user):
        ctx = section.context(request, opp) or {}
        if ctx.get("hidden"):
            continue
        html = render_to_string(
            section.template,
            {**ctx, "opportunity": opp, "record": opp, "section": section},
            request=request,
        )
        out.append({"key": section.key, "label": section.label, "html": html})
    return out


def _page_context(request: HttpRequest, pk: Any, **extra: Any) -> dict[str, Any]:
    d = selectors.opportunity_detail(user=request.user, pk=pk)
    opp = d.opportunity
    may_change = services.can_change(request.user, opp)
    ctx: dict[str, Any] = {
        "d": d,
        "opportunity": opp,
        "can_change": may_change,
        "can_reopen": may_change and not opp.is_open and services.can_reopen(request.user, opp),
        "today": timezone.localdate(),
        "close_reasons": CloseReason.choices,
        "sources": dict(OpportunitySource.choices),
    }
    if may_change:
        ctx.update(
            {
                "competitor_form": CompetitorForm(auto_id="comp-%s"),
                "competitor_names": list(selectors.competitor_choices().values_list("name", flat=True)[:200]),
                "contact_form": ContactRoleForm(
                    contacts=selectors.customer_contacts(opportunity=opp), auto_id="dm-%s"
                ),
                "member_form": MemberForm(auto_id="tm-%s"),
            }
        )
    ctx.update(extra)
    return ctx


def _respond(
    request: HttpRequest, pk: Any, *, flash: str = "", status: int = 200, **extra: Any
) -> HttpResponse:
    """After an action: htmx gets the page's main block back; a plain POST a redirect (or the page with
    the error, 400)."""
    if _is_htmx(request):
        ctx = _page_context(request, pk, flash=flash, **extra)
        return render(request, "sales/opportunities/detail.html#page", ctx)
    if status == 200 and not extra:
        if flash:
            messages.success(request, flash)
        return redirect("sales_opportunity_detail", pk)
    ctx = _page_context(request, pk, flash=flash, **extra)
    ctx["sections"] = _render_sections(request, ctx["opportunity"])
    return render(request, "sales/opportunities/detail.html", ctx, status=status)


def _error_text(e: ValidationError) -> list[str]:
    return list(e.messages)


@access.authenticated
def opportunity_detail(request: HttpRequest, pk: int) -> HttpResponse:
    ctx = _page_context(request, pk)
    ctx["sections"] = _render_sections(request, ctx["opportunity"])
    return render(request, "sales/opportunities/detail.html", ctx)


def _action(
    request: HttpRequest, pk: int, run: Callable[[Opportunity], str], *, section: str
) -> HttpResponse:
    """Run one write on the deal: the flash message on success; the service's error shown in ``section``."""
    opp = selectors.opportunity_get(user=request.user, pk=pk)
    try:
        flash = run(opp)
    except ValidationError as e:
        return _respond(request, pk, status=400, errors={section: _error_text(e)})
    return _respond(request, pk, flash=flash)


@access.authenticated
@require_POST
def opportunity_checklist(request: HttpRequest, pk: int, item_id: int) -> HttpResponse:
    """Tick or untick a key task; attach a required document (which completes it)."""
    form = ChecklistForm(request.POST, request.FILES)
    form.is_valid()
    data = form.cleaned_data

    def run(opp: Opportunity) -> str:
        entry = services.checklist_set(
            actor=request.user,
            opportunity=opp,
            item=item_id,
            done=bool(data.get("done")),
            note=data.get("note") or "",
            uploaded_file=data.get("file") or None,
        )
        return (
            _("Done: %(item)s") % {"item": entry.item}
            if entry.done
            else _("Not done: %(item)s") % {"item": entry.item}
        )

    return _action(request, pk, run, section="checklist")


def _gate_context(
    opp: Opportunity, stage: PlaybookStage | None, missing: list[Any], form_data: dict[str, Any]
) -> dict[str, Any]:
    if stage is not None:
        stage.label = selectors.stage_name(stage)  # type: ignore[attr-defined]
    return {"stage": stage, "missing": missing, "data": form_data}


@access.authenticated
@require_POST
def opportunity_move(request: HttpRequest, pk: int) -> HttpResponse:
    """Move to a stage; a gate with missing items shows them and offers a manager's approval."""
    form = MoveForm(request.POST)
    if not form.is_valid():
        return _respond(request, pk, status=400, errors={"stage": [_("Choose a stage.")]})
    data = form.cleaned_data
    opp = selectors.opportunity_get(user=request.user, pk=pk)
    try:
        result = services.opportunity_stage_move(
            actor=request.user,
            opportunity=opp,
            to_stage=data["to_stage"],
            request_approval=bool(data.get("request_approval")),
            reason=data.get("reason") or "",
            close_reason=data.get("close_reason") or "",
            note=data.get("note") or "",
        )
    except StageGateBlocked as e:
        stage = PlaybookStage.objects.filter(pk=data["to_stage"]).first()
        return _respond(request, pk, status=409, gate=_gate_context(opp, stage, e.missing, data))
    except ValidationError as e:
        extra: dict[str, Any] = {"errors": {"stage": _error_text(e)}}
        if data.get("request_approval"):
            stage = PlaybookStage.objects.filter(pk=data["to_stage"]).first()
            from steelyard.sales.services.stages import gate_missing

            if stage is not None:
                extra["gate"] = _gate_context(opp, stage, gate_missing(opp, stage), data)
        return _respond(request, pk, status=400, **extra)
    if result.approval is not None:
        approvers = ", ".join(str(s.approver) for s in result.approval.steps.select_related("approver"))
        return _respond(
            request,
            pk,
            flash=_("Approval requested from %(who)s. The deal moves on once it is approved.")
            % {"who": approvers},
        )
    opp.refresh_from_db(fields=["stage", "status"])
    return _respond(request, pk, flash=_("Moved to %(stage)s.") % {"stage": selectors.stage_name(opp.stage)})


@access.authenticated
@require_POST
def opportunity_close(request: HttpRequest, pk: int) -> HttpResponse:
    form = CloseForm(request.POST)
    if not form.is_valid():
        return _respond(request, pk, status=400, errors={"close": [_("Choose won or lost.")]})
    data = form.cleaned_data
    opp = selectors.opportunity_get(user=request.user, pk=pk)
    try:
        services.opportunity_close(
            actor=request.user,
            opportunity=opp,
            outcome=data["outcome"],
            reason=data.get("reason") or "",
            note=data.get("note") or "",
            lost_to=data.get("lost_to") or None,
            closed_on=data.get("closed_on"),
        )
    except StageGateBlocked as e:
        stage = selectors.opportunity_detail(user=request.user, pk=pk).won_stage
        gate_data = {"close_reason": data.get("reason") or "", "note": data.get("note") or ""}
        return _respond(request, pk, status=409, gate=_gate_context(opp, stage, e.missing, gate_data))
    except ValidationError as e:
        return _respond(request, pk, status=400, errors={f"close_{data['outcome']}": _error_text(e)})
    flash = _("Closed as won. Congratulations!") if data["outcome"] == "won" else _("Closed as lost.")
    return _respond(request, pk, flash=flash)


@access.authenticated
@require_POST
def opportunity_reopen(request: HttpRequest, pk: int) -> HttpResponse:
    form = ReopenForm(request.POST)
    form.is_valid()

    def run(opp: Opportunity) -> str:
        services.opportunity_reopen(
            actor=request.user, opportunity=opp, reason=form.cleaned_data.get("reason") or ""
        )
        return _("The deal is open again.")

    return _action(request, pk, run, section="stage")


@access.authenticated
@require_POST
def opportunity_competitor_set(request: HttpRequest, pk: int) -> HttpResponse:
    form = CompetitorForm(request.POST)
    if not form.is_valid():
        return _respond(
            request,
            pk,
            status=400,
            errors={"competitors": [e for errs in form.errors.values() for e in errs]},
        )

    def run(opp: Opportunity) -> str:
        row = services.opportunity_competitor_set(actor=request.user, opportunity=opp, **form.cleaned_data)
        return _("Competitor %(name)s saved.") % {"name": row.competitor}

    return _action(request, pk, run, section="competitors")


@access.authenticated
@require_POST
def opportunity_competitor_remove(request: HttpRequest, pk: int, competitor_id: int) -> HttpResponse:
    def run(opp: Opportunity) -> str:
        services.opportunity_competitor_remove(actor=request.user, opportunity=opp, competitor=competitor_id)
        return _("Competitor removed.")

    return _action(request, pk, run, section="competitors")


@access.authenticated
@require_POST
def opportunity_contact_set(request: HttpRequest, pk: int) -> HttpResponse:
    opp = selectors.opportunity_get(user=request.user, pk=pk)
    form = ContactRoleForm(request.POST, contacts=selectors.customer_contacts(opportunity=opp))
    if not form.is_valid():
        return _respond(
            request, pk, status=400, errors={"contacts": [e for errs in form.errors.values() for e in errs]}
        )

    def run(opp: Opportunity) -> str:
        row = services.opportunity_contact_set(actor=request.user, opportunity=opp, **form.cleaned_data)
        return _("%(name)s is on the deal.") % {"name": row.contact}

    return _action(request, pk, run, section="contacts")


@access.authenticated
@require_POST
def opportunity_contact_remove(request: HttpRequest, pk: int, contact_id: int) -> HttpResponse:
    def run(opp: Opportunity) -> str:
        services.opportunity_contact_remove(actor=request.user, opportunity=opp, contact=contact_id)
        return _("Decision-maker removed.")

    return _action(request, pk, run, section="contacts")


@access.authenticated
@require_POST
def opportunity_member_add(request: HttpRequest, pk: int) -> HttpResponse:
    form = MemberForm(request.POST)
    if not form.is_valid():
        return _respond(
            request, pk, status=400, errors={"team": [e for errs in form.errors.values() for e in errs]}
        )

    def run(opp: Opportunity) -> str:
        member = services.opportunity_member_add(actor=request.user, opportunity=opp, **form.cleaned_data)
        return _("%(name)s joined the team.") % {"name": member.user}

    return _action(request, pk, run, section="team")


@access.authenticated
@require_POST
def opportunity_member_remove(request: HttpRequest, pk: int, member_id: int) -> HttpResponse:
    def run(opp: Opportunity) -> str:
        services.opportunity_member_remove(actor=request.user, opportunity=opp, member=member_id)
        return _("Removed from the team.")

    return _action(request, pk, run, section="team")


# --- the customer page's section and the home widget ------------------------------------------------


def customer_section(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    ctx = selectors.customer_opportunities(user=request.user, customer=customer)
    for o in ctx["rows"]:
        o.flag_badges = selectors.flag_badges(o)
    ctx["can_create"] = (
        not customer.merged_into_id
        and Customer.objects.visible_to(request.user, CHANGE).filter(pk=customer.pk).exists()
    )
    return ctx


def home_widget_context(request: HttpRequest) -> dict[str, Any]:
    return selectors.my_closing_this_month(user=request.user)
