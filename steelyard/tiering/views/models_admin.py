"""Tier-model screens (/tiers/models/): the models list, the editor with its preview, activation, copies per
product line, "run now", the runs list, a run's tier-migration matrix and the customers of each cell.

The models list and everything that changes a model are for administrators. Runs, their matrix and the
drill-down are readable by anyone signed in and counted over the customers the viewer can see.
Reads go through ``selectors.models_admin``, writes through the audited ``services.models_admin``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from steelyard.catalog.models import ProductLine
from steelyard.core import access
from steelyard.core.filters import paginate
from steelyard.core.selectors.audit import audit_for_object
from steelyard.tiering.forms_models import FACTOR_UNITS, CopyForm, EditorForms
from steelyard.tiering.models import Factor, Tier, TierModel
from steelyard.tiering.selectors import models_admin as selectors
from steelyard.tiering.services import models_admin as services

SHIPPED_TIERS = [
    {"code": "strategic", "name": "战略", "name_en": "Strategic", "rank": 1, "min_score": 75},
    {"code": "key", "name": "重点", "name_en": "Key", "rank": 2, "min_score": 50},
    {"code": "regular", "name": "一般", "name_en": "Regular", "rank": 3, "min_score": 25},
    {"code": "potential", "name": "潜在", "name_en": "Potential", "rank": 4, "min_score": 0},
]


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _english() -> bool:
    return (translation.get_language() or "").startswith("en")


# --- the list -------------------------------------------------------------------------------------------


@access.admin_only
def tier_model_list(request: HttpRequest) -> HttpResponse:
    models = list(selectors.tier_model_list(user=request.user))
    ids = [m.pk for m in models]
    tiers = selectors.tiers_by_model(ids)
    dist = selectors.tier_distribution(user=request.user, model_ids=ids)
    english = _english()
    for m in models:
        counts = dist.get(m.pk, {})
        known = {t.code for t in tiers.get(m.pk, [])}
        m.distribution = [
            {
                "code": t.code,
                "name": (t.name_en or t.name) if english else t.name,
                "count": counts.get(t.code, 0),
            }
            for t in tiers.get(m.pk, [])
        ]
        m.distribution += [{"code": c, "name": c, "count": n} for c, n in counts.items() if c not in known]
        m.assessed = sum(counts.values())
    lines_with_model = {m.product_line_id for m in models if m.product_line_id}
    lines_without = list(
        ProductLine.objects.filter(is_active=True).exclude(pk__in=lines_with_model).order_by("sort_order")
    )
    global_model = next((m for m in models if m.product_line_id is None and m.is_active), None)
    return render(
        request,
        "tiering/models/model_list.html",
        {
            "models": models,
            "global_model": global_model,
            "lines_without": lines_without,
            "copy_form": CopyForm(),
        },
    )


# --- the editor -------------------------------------------------------------------------------------------


def _initial_for(model: TierModel) -> dict[str, Any]:
    return {
        "code": model.code,
        "name": model.name,
        "product_line": model.product_line_id,
        "description": model.description,
        "hysteresis_margin": model.hysteresis_margin,
        "hysteresis_runs": model.hysteresis_runs,
    }


def _template_model() -> TierModel | None:
    """The model a new one starts from: the active global model, else any."""
    return (
        TierModel.objects.filter(product_line__isnull=True, is_active=True).first()
        or TierModel.objects.order_by("pk").first()
    )


def _editor_context(request: HttpRequest, editor: EditorForms, model: TierModel | None) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "editor": editor,
        "model": model,
        "units": {k: str(v) for k, v in FACTOR_UNITS.items()},
        "preview_url": reverse("tier_model_preview", args=[model.pk])
        if model
        else reverse("tier_model_preview_new"),
    }
    if model is not None:
        ctx["warnings"] = services.config_warnings(
            Tier.objects.filter(model=model), Factor.objects.filter(model=model)
        )
        ctx["runs"] = list(selectors.assessment_run_list(user=request.user, filters={"model": model.pk})[:5])
        ctx["has_runs"] = bool(ctx["runs"])
        ctx["audit_entries"] = audit_for_object(user=request.user, obj=model, limit=20)  # type: ignore[arg-type]
    return ctx


def _preview_context(request: HttpRequest, editor: EditorForms, model: TierModel | None) -> dict[str, Any]:
    """Validate the unsaved settings and ask the engine what a run would do with them."""
    ctx: dict[str, Any] = {"preview": None, "preview_error": ""}
    if not editor.is_valid():
        ctx["preview_error"] = _("Correct the errors in the form first.")
        return ctx
    fields = editor.fields()
    try:
        result = services.tier_model_preview(
            actor=request.user,
            model=model,
            fields=fields,
            tiers=editor.tier_rows(),
            factors=editor.factor_rows(),
        )
    except ValidationError as e:
        editor.apply_service_errors(e)
        ctx["preview_error"] = (
            " ".join(e.messages)
            if not hasattr(e, "error_dict")
            else _("Correct the errors in the form first.")
        )
        return ctx
    counts = result.get("migration") or {}
    ctx["preview"] = {
        "customers": int(result.get("customers") or 0),
        "changed": int(result.get("changed") or 0),
        "matrix": selectors.matrix_from_counts(model, counts, english=_english()),
        "warnings": result.get("warnings") or [],
        "by_score_changed": (result.get("by_score") or {}).get("changed"),
    }
    return ctx


def _editor(request: HttpRequest, model: TierModel | None) -> HttpResponse:
    if model is not None:
        initial = _initial_for(model)
        tiers, factors = services.tiers_of(model), services.factors_of(model)
    else:
        source = _template_model()
        initial = {"hysteresis_margin": "2", "hysteresis_runs": 2}
        if source is not None:
            initial.update(hysteresis_margin=source.hysteresis_margin, hysteresis_runs=source.hysteresis_runs)
            tiers, factors = services.tiers_of(source), services.factors_of(source)
        else:
            tiers, factors = [dict(t) for t in SHIPPED_TIERS], []
    if request.method != "POST":
        editor = EditorForms(model=model, initial=initial, tiers=tiers, factors=factors)
        return render(request, "tiering/models/model_editor.html", _editor_context(request, editor, model))

    editor = EditorForms(request.POST, model=model, initial=initial, tiers=tiers, factors=factors)
    if request.POST.get("action") == "preview":
        ctx = _preview_context(request, editor, model)
        return render(
            request, "tiering/models/model_editor.html", {**_editor_context(request, editor, model), **ctx}
        )
    if editor.is_valid():
        fields = editor.fields()
        tier_rows, factor_rows = editor.tier_rows(), editor.factor_rows()
        try:
            if model is None:
                model = services.tier_model_create(
                    actor=request.user, **fields, tiers=tier_rows, factors=factor_rows
                )
                messages.success(
                    request, _("Model created. Check it with Preview, then activate it to use it in runs.")
                )
            else:
                services.tier_model_configure(
                    actor=request.user, model=model, fields=fields, tiers=tier_rows, factors=factor_rows
                )
                messages.success(request, _("Model saved. The next run uses these settings."))
        except ValidationError as e:
            editor.apply_service_errors(e)
        else:
            return redirect("tier_model_edit", model.pk)
    return render(request, "tiering/models/model_editor.html", _editor_context(request, editor, model))


@access.admin_only
def tier_model_create(request: HttpRequest) -> HttpResponse:
    return _editor(request, None)


@access.admin_only
def tier_model_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _editor(request, selectors.tier_model_get(user=request.user, pk=pk))


def _preview(request: HttpRequest, model: TierModel | None) -> HttpResponse:
    if model is not None:
        initial, tiers, factors = _initial_for(model), services.tiers_of(model), services.factors_of(model)
    else:
        initial, tiers, factors = {}, [], []
    editor = EditorForms(request.POST, model=model, initial=initial, tiers=tiers, factors=factors)
    ctx = _preview_context(request, editor, model)
    if not _is_htmx(request):
        return render(
            request, "tiering/models/model_editor.html", {**_editor_context(request, editor, model), **ctx}
        )
    ctx["editor"] = editor
    return render(request, "tiering/models/_preview.html", ctx)


@access.admin_only
@require_POST
def tier_model_preview(request: HttpRequest, pk: int) -> HttpResponse:
    return _preview(request, selectors.tier_model_get(user=request.user, pk=pk))


@access.admin_only
@require_POST
def tier_model_preview_new(request: HttpRequest) -> HttpResponse:
    return _preview(request, None)


# --- actions ------------------------------------------------------------------------------------------------


def _action(request: HttpRequest, pk: int, fn: Any, ok: str) -> HttpResponse:
    model = selectors.tier_model_get(user=request.user, pk=pk)
    try:
        fn(actor=request.user, model=model)
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
    else:
        messages.success(request, ok)
    return redirect("tier_model_edit", model.pk)


@access.admin_only
@require_POST
def tier_model_activate(request: HttpRequest, pk: int) -> HttpResponse:
    return _action(
        request, pk, services.tier_model_activate, _("Model activated. It is used from the next run.")
    )


@access.admin_only
@require_POST
def tier_model_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    return _action(
        request,
        pk,
        services.tier_model_deactivate,
        _("Model deactivated. Its customers keep their last tier."),
    )


@access.admin_only
@require_POST
def tier_model_delete(request: HttpRequest, pk: int) -> HttpResponse:
    model = selectors.tier_model_get(user=request.user, pk=pk)
    try:
        services.tier_model_delete(actor=request.user, model=model)
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
        return redirect("tier_model_edit", model.pk)
    messages.success(request, _("Model “%(name)s” deleted.") % {"name": model.name})
    return redirect("tier_model_list")


@access.admin_only
def tier_model_copy(request: HttpRequest, pk: int) -> HttpResponse:
    source = selectors.tier_model_get(user=request.user, pk=pk)
    form = CopyForm(request.POST or None, initial={"product_line": request.GET.get("product_line")})
    if request.method == "POST" and form.is_valid():
        try:
            copy = services.tier_model_copy(
                actor=request.user, source=source, product_line=form.cleaned_data["product_line"]
            )
        except ValidationError as e:
            for field, errs in getattr(e, "message_dict", {"__all__": e.messages}).items():
                form.add_error(field if field in form.fields else None, errs)
        else:
            messages.success(
                request,
                _("Copied for %(line)s. Adjust it, check it with Preview, then activate it.")
                % {"line": copy.product_line},
            )
            return redirect("tier_model_edit", copy.pk)
    return render(request, "tiering/models/model_copy.html", {"form": form, "source": source})


@access.admin_only
@require_POST
def tier_model_run(request: HttpRequest, pk: int) -> HttpResponse:
    model = selectors.tier_model_get(user=request.user, pk=pk)
    try:
        job = services.assessment_run_start(actor=request.user, model=model)
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
        return redirect("tier_model_edit", model.pk)
    messages.info(request, _("Assessment started. When it has finished, its tier movements are under Runs."))
    return redirect("job_detail", pk=job.pk)


# --- runs ----------------------------------------------------------------------------------------------------


@access.authenticated
def tier_run_list(request: HttpRequest) -> HttpResponse:
    f = selectors.RunFilter(request.GET, user=request.user)
    page = paginate(request, selectors.assessment_run_list(user=request.user, filters=request.GET))
    return render(
        request,
        "tiering/models/run_list.html",
        {
            "filter": f,
            "page": page,
            "sorts": f.sort_links(request),
            "is_admin": services.can_administer(request.user),
        },
    )


@access.authenticated
def tier_run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = selectors.assessment_run_get(user=request.user, pk=pk)
    matrix = selectors.run_matrix(user=request.user, run=run, english=_english())
    return render(
        request,
        "tiering/models/run_detail.html",
        {
            "run": run,
            "matrix": matrix,
            "is_admin": services.can_administer(request.user),
            "all_url": selectors.cell_url(run, None, None),
        },
    )


@access.authenticated
def tier_run_customers(request: HttpRequest, pk: int) -> HttpResponse:
    run = selectors.assessment_run_get(user=request.user, pk=pk)
    f = selectors.RunCustomerFilter(request.GET, user=request.user)
    page = paginate(request, selectors.run_assessments(user=request.user, run=run, filters=request.GET))
    labels = selectors.tier_labels(run.model, english=_english())
    data = f.valid_data

    def label(code: str | None) -> str:
        if code is None:
            return ""
        code = "" if code == selectors.NONE_TOKEN else code
        return labels.get(code, code)

    for a in page:
        a.previous_label = labels.get(a.previous_tier, a.previous_tier)
        a.tier_label = labels.get(a.tier, a.tier)
        a.computed_label = labels.get(a.computed_tier, a.computed_tier)
    return render(
        request,
        "tiering/models/run_customers.html",
        {
            "run": run,
            "filter": f,
            "page": page,
            "sorts": f.sort_links(request),
            "from_label": label(data.get("from_tier")) if data.get("from_tier") else "",
            "to_label": label(data.get("to_tier")) if data.get("to_tier") else "",
        },
    )
