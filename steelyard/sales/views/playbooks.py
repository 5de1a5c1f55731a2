"""Playbook screens (mounted at /sales/playbooks/).

- The versions list (per product line, with each version's status and open opportunities) and a
  version's page (stages with probability, category, stall limit and exit criteria; each stage's
  checklist): everyone in sales (``READ_ROLES``); drafts only for their editors (404 otherwise). Open
  opportunities are counted over those the viewer can see.
- The draft editor on the version's page (details, stages and items added, changed, removed and moved
  with htmx; every endpoint also works as a plain form), discarding a draft, "new version" from any
  version, activation after a confirmation, and moving the open opportunities of an older version onto
  the version in force with a stage map and a preview: administrators and sales directors (403 for
  others).

Reads go through ``selectors.playbooks``, writes through the audited ``services.playbooks``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from steelyard.core import access
from steelyard.core.filters import paginate
from steelyard.core.selectors.audit import audit_for_object
from steelyard.customers.forms import apply_service_error
from steelyard.sales.forms_playbooks import (
    STATUS_BADGES,
    ItemForm,
    MigrateForm,
    PlaybookCreateForm,
    PlaybookEditForm,
    PlaybookFilter,
    StageForm,
    TargetChoiceForm,
)
from steelyard.sales.models import (
    REQUIRABLE_FIELDS,
    ItemKind,
    Playbook,
    PlaybookItem,
    PlaybookStage,
    PlaybookStatus,
)
from steelyard.sales.selectors import playbooks as selectors
from steelyard.sales.services import playbooks as services

READ_ROLES = services.READ_ROLES
EDIT_ROLES = services.EDIT_ROLES

KIND_ICONS = {
    ItemKind.TASK: "check2-square",
    ItemKind.FIELD: "input-cursor-text",
    ItemKind.DOCUMENT: "paperclip",
}


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _english() -> bool:
    return (translation.get_language() or "").startswith("en")


def _can_edit(user: Any) -> bool:
    return services.can_edit_playbooks(user)


def _playbook(request: HttpRequest, pk: int) -> Playbook:
    """A version the user may read (drafts only for their editors), with stages and items; 404 otherwise."""
    playbook = selectors.playbook_get(user=request.user, pk=pk)
    if playbook is None:
        raise Http404("No such playbook.")
    return playbook


def _draft(request: HttpRequest, pk: int) -> Playbook | None:
    """The draft to change, or None when the version is no longer a draft (see ``_locked``)."""
    playbook = _playbook(request, pk)
    return playbook if playbook.status == PlaybookStatus.DRAFT else None


def _locked(request: HttpRequest, pk: int) -> HttpResponse:
    return _failed(request, pk, ValidationError(services.ERR_LOCKED))


def _stage(playbook: Playbook, stage_pk: int) -> PlaybookStage:
    for s in playbook.stages.all():
        if s.pk == stage_pk:
            return s
    raise Http404("No such stage.")


def _item(playbook: Playbook, item_pk: int) -> PlaybookItem:
    for s in playbook.stages.all():
        for i in s.items.all():
            if i.pk == item_pk:
                return i
    raise Http404("No such item.")


# --- presenting a playbook ----------------------------------------------------------------------------


def decorate(playbook: Playbook, *, problems: dict[str, list[str]] | None = None) -> list[PlaybookStage]:
    """The stages (prefetched) with what the page shows: names in the viewer's language, item labels,
    field names and the problems that concern each stage and item."""
    english = _english()
    problems = problems or {}
    stages = list(playbook.stages.all())
    for s in stages:
        s.display_name = (s.name_en or s.name) if english else s.name  # type: ignore[attr-defined]
        s.other_name = s.name if english else s.name_en  # type: ignore[attr-defined]
        prefix = f"stages.{s.code}."
        s.problems = [m for k, msgs in problems.items() if k.startswith(prefix) for m in msgs]  # type: ignore[attr-defined]
        items = list(s.items.all())
        for i in items:
            i.display_label = (i.label_en or i.label) if english else i.label  # type: ignore[attr-defined]
            i.other_label = i.label if english else i.label_en  # type: ignore[attr-defined]
            i.field_label = REQUIRABLE_FIELDS.get(i.field, i.field) if i.kind == ItemKind.FIELD else ""  # type: ignore[attr-defined]
            i.icon = KIND_ICONS.get(i.kind, "circle")  # type: ignore[attr-defined]
            i.problems = problems.get(f"items.{i.pk}.field", [])  # type: ignore[attr-defined]
        s.item_list = items  # type: ignore[attr-defined]
        s.required_count = sum(1 for i in items if i.required)  # type: ignore[attr-defined]
    open_stages = [s for s in stages if not s.is_closed]
    for n, s in enumerate(stages):
        s.first_open = bool(open_stages) and s is open_stages[0]  # type: ignore[attr-defined]
        s.last_open = bool(open_stages) and s is open_stages[-1]  # type: ignore[attr-defined]
        s.position = n + 1  # type: ignore[attr-defined]
    return stages


def _editor_context(request: HttpRequest, playbook: Playbook, **extra: Any) -> dict[str, Any]:
    can_edit = _can_edit(request.user) and playbook.status == PlaybookStatus.DRAFT
    problems = services.playbook_problems(playbook) if can_edit else {}
    stages = decorate(playbook, problems=problems)
    counts = selectors.open_counts_by_stage(user=request.user, playbook_id=playbook.pk)
    for s in stages:
        s.open_count = counts.get(s.pk, 0)  # type: ignore[attr-defined]
    return {
        "playbook": playbook,
        "stages": stages,
        "problems": problems,
        "general_problems": problems.get("stages", []),
        "can_edit": can_edit,
        **extra,
    }


def _editor_response(request: HttpRequest, playbook_pk: int, **extra: Any) -> HttpResponse:
    """The stages section re-rendered (htmx swaps it in place of ``#playbook-editor``)."""
    playbook = _playbook(request, playbook_pk)
    response = render(request, "sales/playbooks/_editor.html", _editor_context(request, playbook, **extra))
    response["HX-Retarget"] = "#playbook-editor"
    response["HX-Reswap"] = "outerHTML"
    return response


def _done(request: HttpRequest, playbook_pk: int, message: str, anchor: str = "") -> HttpResponse:
    if _is_htmx(request):
        return _editor_response(request, playbook_pk, flash=message)
    messages.success(request, message)
    return redirect(reverse("sales_playbook_detail", args=[playbook_pk]) + (f"#{anchor}" if anchor else ""))


def _failed(request: HttpRequest, playbook_pk: int, error: ValidationError) -> HttpResponse:
    text = " ".join(error.messages)
    if _is_htmx(request):
        return _editor_response(request, playbook_pk, flash_error=text)
    messages.error(request, text)
    return redirect("sales_playbook_detail", playbook_pk)


def _state_badge(p: Playbook) -> str:
    return STATUS_BADGES.get(p.status, "text-bg-light")


# --- the list ----------------------------------------------------------------------------------------


@access.roles(*READ_ROLES)
def playbook_list(request: HttpRequest) -> HttpResponse:
    f = PlaybookFilter(request.GET, user=request.user)
    page = paginate(request, f.apply(selectors.playbook_list(user=request.user)))
    counts = selectors.open_counts(user=request.user, playbook_ids=[p.pk for p in page])
    english = _english()
    for p in page:
        p.open_count = counts.get(p.pk, 0)  # type: ignore[attr-defined]
        p.badge = _state_badge(p)  # type: ignore[attr-defined]
        line = p.product_line
        p.line_name = ((line.name_en or line.name) if english else line.name) if line else ""  # type: ignore[attr-defined]
    can_edit = _can_edit(request.user)
    default_active = selectors.active_for_line(None)
    return render(
        request,
        "sales/playbooks/list.html",
        {
            "filter": f,
            "page": page,
            "sorts": f.sort_links(request),
            "can_edit": can_edit,
            "default_active": default_active,
            "lines_without": selectors.lines_without_playbook() if can_edit else [],
        },
    )


# --- a version ----------------------------------------------------------------------------------------


@access.roles(*READ_ROLES)
def playbook_detail(request: HttpRequest, pk: int) -> HttpResponse:
    if _is_htmx(request) and request.GET.get("partial") == "editor":
        return _editor_response(request, pk)
    playbook = _playbook(request, pk)
    editor = _can_edit(request.user)
    ctx = _editor_context(request, playbook)
    siblings = selectors.versions_of(user=request.user, line_id=playbook.product_line_id)
    sibling_counts = selectors.open_counts(user=request.user, playbook_ids=[p.pk for p in siblings])
    for p in siblings:
        p.open_count = sibling_counts.get(p.pk, 0)  # type: ignore[attr-defined]
        p.badge = _state_badge(p)  # type: ignore[attr-defined]
    moves: list[dict[str, Any]] = []
    if editor and playbook.status != PlaybookStatus.DRAFT:
        for target in selectors.migration_targets(playbook):
            n = selectors.migration_count(playbook, target)
            if n:
                moves.append({"target": target, "count": n})
    older: list[Playbook] = []
    if editor and playbook.status == PlaybookStatus.ACTIVE:
        for p in siblings:
            if p.status == PlaybookStatus.RETIRED:
                p.move_count = selectors.migration_count(p, playbook)  # type: ignore[attr-defined]
                if p.move_count:  # type: ignore[attr-defined]
                    older.append(p)
    ctx.update(
        {
            "badge": _state_badge(playbook),
            "open_total": sum(getattr(s, "open_count", 0) for s in ctx["stages"]),
            "siblings": siblings,
            "can_copy": editor,
            "moves": moves,
            "older_with_open": older,
            "audit_entries": audit_for_object(user=request.user, obj=playbook, limit=30) if editor else [],
        }
    )
    return render(request, "sales/playbooks/detail.html", ctx)


@access.roles(*EDIT_ROLES)
def playbook_create(request: HttpRequest) -> HttpResponse:
    initial = {}
    if request.GET.get("line"):
        initial["product_line"] = request.GET["line"]
    form = PlaybookCreateForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            playbook = services.playbook_create(
                actor=request.user,
                product_line=form.cleaned_data["product_line"],
                name=form.cleaned_data["name"],
            )
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(
                request,
                _("Draft v%(version)s created. Change its stages and checklists, then activate it.")
                % {"version": playbook.version},
            )
            return redirect("sales_playbook_detail", playbook.pk)
    return render(
        request,
        "sales/playbooks/form_page.html",
        {"form": form, "title": _("New playbook version"), "submit": _("Create draft")},
    )


@access.roles(*EDIT_ROLES)
def playbook_edit(request: HttpRequest, pk: int) -> HttpResponse:
    playbook = _draft(request, pk)
    if playbook is None:
        return _locked(request, pk)
    form = PlaybookEditForm(
        request.POST or None, initial={"name": playbook.name, "description": playbook.description}
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.playbook_update(actor=request.user, playbook=playbook, **form.cleaned_data)
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            messages.success(request, _("Saved."))
            return redirect("sales_playbook_detail", playbook.pk)
    return render(
        request,
        "sales/playbooks/form_page.html",
        {
            "form": form,
            "playbook": playbook,
            "title": _("Draft v%(version)s: details") % {"version": playbook.version},
            "submit": _("Save"),
        },
    )


@access.roles(*EDIT_ROLES)
@require_POST
def playbook_delete(request: HttpRequest, pk: int) -> HttpResponse:
    playbook = _playbook(request, pk)
    try:
        services.playbook_delete(actor=request.user, playbook=playbook)
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
        return redirect("sales_playbook_detail", playbook.pk)
    messages.success(request, _("Draft v%(version)s discarded.") % {"version": playbook.version})
    return redirect("sales_playbook_list")


@access.roles(*EDIT_ROLES)
@require_POST
def playbook_copy(request: HttpRequest, pk: int) -> HttpResponse:
    """ "New version": a draft copying this version, the next version of its line."""
    source = _playbook(request, pk)
    try:
        draft = services.playbook_copy(actor=request.user, source=source)
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
        return redirect("sales_playbook_detail", source.pk)
    messages.success(
        request,
        _("Draft v%(version)s created from v%(source)s. Change it, then activate it.")
        % {"version": draft.version, "source": source.version},
    )
    return redirect("sales_playbook_detail", draft.pk)


@access.roles(*EDIT_ROLES)
def playbook_activate(request: HttpRequest, pk: int) -> HttpResponse:
    playbook = _playbook(request, pk)
    if playbook.status != PlaybookStatus.DRAFT:
        messages.error(request, str(services.ERR_NOT_DRAFT))
        return redirect("sales_playbook_detail", playbook.pk)
    error = ""
    if request.method == "POST":
        try:
            services.playbook_activate(actor=request.user, playbook=playbook)
        except ValidationError as e:
            error = " ".join(e.messages)
        else:
            messages.success(
                request,
                _("Version %(version)s is in force: new opportunities start on it.")
                % {"version": playbook.version},
            )
            return redirect("sales_playbook_detail", playbook.pk)
    current = selectors.active_for_line(playbook.product_line_id)
    current_open = (
        selectors.open_counts(user=request.user, playbook_ids=[current.pk]).get(current.pk, 0)
        if current
        else 0
    )
    problems = services.playbook_problems(playbook)
    return render(
        request,
        "sales/playbooks/activate.html",
        {
            "playbook": playbook,
            "stages": decorate(playbook, problems=problems),
            "problems": [m for msgs in problems.values() for m in msgs],
            "current": current,
            "current_open": current_open,
            "error": error,
        },
        status=400 if error else 200,
    )


# --- moving open opportunities onto the version in force ---------------------------------------------


@access.roles(*EDIT_ROLES)
def playbook_migrate(request: HttpRequest, pk: int) -> HttpResponse:
    source = _playbook(request, pk)
    targets = selectors.migration_targets(source)
    if source.status == PlaybookStatus.DRAFT or not targets:
        messages.error(request, _("There is no version in force to move these opportunities onto."))
        return redirect("sales_playbook_detail", source.pk)
    data = request.POST if request.method == "POST" else request.GET
    chosen = next((t for t in targets if str(t.pk) == str(data.get("target"))), targets[0])
    chooser = TargetChoiceForm(initial={"target": chosen.pk}, targets=targets)
    target = selectors.playbook_with_stages(chosen.pk)
    source_stages = [s for s in source.stages.all() if not s.is_closed]
    target_stages = [s for s in target.stages.all() if not s.is_closed]
    default_map = services.default_stage_map(source, target)
    rows, total = selectors.migration_preview(source, target, default_map)
    counts = {r.stage.pk: r.count for r in rows}
    bound = request.method == "POST" or any(k.startswith("stage_") for k in data)
    form = MigrateForm(
        data if bound else None,
        source_stages=source_stages,
        target_stages=target_stages,
        counts=counts,
        initial={f"stage_{k}": str(v) for k, v in default_map.items()},
    )
    stage_map: dict[int, int] = dict(default_map)
    if bound and form.is_valid():
        stage_map = {k: v for k, v in form.stage_map().items() if v is not None}
        rows, total = selectors.migration_preview(source, target, stage_map)
    if request.method == "POST" and form.is_valid():
        try:
            moved = services.playbook_migrate(
                actor=request.user, source=source, target=target, stage_map=form.stage_map()
            )
        except ValidationError as e:
            if hasattr(e, "error_dict"):
                for key, errs in e.error_dict.items():
                    name = f"stage_{key.split('.', 1)[1]}" if key.startswith("stage_map.") else None
                    form.add_error(name if name in form.fields else None, errs)
            else:
                form.add_error(None, e)
        else:
            messages.success(
                request,
                _("%(count)s open opportunities moved from v%(source)s to v%(target)s.")
                % {"count": moved, "source": source.version, "target": target.version},
            )
            return redirect("sales_playbook_detail", target.pk)
    return render(
        request,
        "sales/playbooks/migrate.html",
        {
            "source": source,
            "target": target,
            "chooser": chooser,
            "show_chooser": len(targets) > 1,
            "form": form,
            "rows": rows,
            "total": total,
            "unmapped": [r for r in rows if r.count and r.target is None],
            "map_rows": [
                {"stage": r.stage, "count": r.count, "target": r.target, "field": form[f"stage_{r.stage.pk}"]}
                for r in rows
            ],
        },
        status=400 if request.method == "POST" else 200,
    )


# --- stages of a draft ----------------------------------------------------------------------------------


def _form_response(
    request: HttpRequest,
    playbook: Playbook,
    template: str,
    ctx: dict[str, Any],
    title: str,
) -> HttpResponse:
    """The form alone for htmx (swapped into the editor), or a page around it."""
    ctx = {"playbook": playbook, **ctx}
    if _is_htmx(request):
        return render(request, template, ctx)
    return render(
        request,
        "sales/playbooks/form_page.html",
        {**ctx, "title": title, "fragment": template, "plain": True},
    )


@access.roles(*EDIT_ROLES)
def stage_add(request: HttpRequest, pk: int) -> HttpResponse:
    playbook = _draft(request, pk)
    if playbook is None:
        return _locked(request, pk)
    form = StageForm(request.POST or None, prefix="new-stage")
    if request.method == "POST" and form.is_valid():
        try:
            stage = services.playbook_stage_add(
                actor=request.user, playbook=playbook, values=form.stage_values()
            )
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            return _done(
                request, playbook.pk, _("Stage “%(name)s” added.") % {"name": stage.name}, f"stage-{stage.pk}"
            )
    return _form_response(
        request,
        playbook,
        "sales/playbooks/_stage_form.html",
        {"form": form, "action": reverse("sales_playbook_stage_add", args=[playbook.pk]), "stage": None},
        _("Add a stage"),
    )


@access.roles(*EDIT_ROLES)
def stage_edit(request: HttpRequest, pk: int, stage_pk: int) -> HttpResponse:
    playbook = _draft(request, pk)
    if playbook is None:
        return _locked(request, pk)
    stage = _stage(playbook, stage_pk)
    form = StageForm(request.POST or None, initial=StageForm.initial_for(stage), prefix=f"stage-{stage.pk}")
    if request.method == "POST" and form.is_valid():
        try:
            stage = services.playbook_stage_update(
                actor=request.user, stage=stage, values=form.stage_values()
            )
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            return _done(
                request, playbook.pk, _("Stage “%(name)s” saved.") % {"name": stage.name}, f"stage-{stage.pk}"
            )
    return _form_response(
        request,
        playbook,
        "sales/playbooks/_stage_form.html",
        {
            "form": form,
            "stage": stage,
            "action": reverse("sales_playbook_stage_edit", args=[playbook.pk, stage.pk]),
        },
        _("Stage “%(name)s”") % {"name": stage.name},
    )


@access.roles(*EDIT_ROLES)
@require_POST
def stage_delete(request: HttpRequest, pk: int, stage_pk: int) -> HttpResponse:
    playbook = _draft(request, pk)
    if playbook is None:
        return _locked(request, pk)
    stage = _stage(playbook, stage_pk)
    try:
        services.playbook_stage_delete(actor=request.user, stage=stage)
    except ValidationError as e:
        return _failed(request, playbook.pk, e)
    return _done(request, playbook.pk, _("Stage “%(name)s” deleted.") % {"name": stage.name})


@access.roles(*EDIT_ROLES)
@require_POST
def stage_move(request: HttpRequest, pk: int, stage_pk: int) -> HttpResponse:
    playbook = _draft(request, pk)
    if playbook is None:
        return _locked(request, pk)
    stage = _stage(playbook, stage_pk)
    offset = -1 if request.POST.get("direction") == "up" else 1
    try:
        services.playbook_stage_move(actor=request.user, stage=stage, offset=offset)
    except ValidationError as e:
        return _failed(request, playbook.pk, e)
    return _done(
        request, playbook.pk, _("Stage “%(name)s” moved.") % {"name": stage.name}, f"stage-{stage.pk}"
    )


# --- checklist items of a draft ------------------------------------------------------------------------


@access.roles(*EDIT_ROLES)
def item_add(request: HttpRequest, pk: int, stage_pk: int) -> HttpResponse:
    playbook = _draft(request, pk)
    if playbook is None:
        return _locked(request, pk)
    stage = _stage(playbook, stage_pk)
    form = ItemForm(request.POST or None, prefix=f"new-item-{stage.pk}")
    if request.method == "POST" and form.is_valid():
        try:
            item = services.playbook_item_add(actor=request.user, stage=stage, values=form.item_values())
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            return _done(
                request,
                playbook.pk,
                _("“%(label)s” added to “%(stage)s”.") % {"label": item.label, "stage": stage.name},
                f"stage-{stage.pk}",
            )
    return _form_response(
        request,
        playbook,
        "sales/playbooks/_item_form.html",
        {
            "form": form,
            "stage": stage,
            "item": None,
            "action": reverse("sales_playbook_item_add", args=[playbook.pk, stage.pk]),
        },
        _("Add a checklist item to “%(stage)s”") % {"stage": stage.name},
    )


@access.roles(*EDIT_ROLES)
def item_edit(request: HttpRequest, pk: int, item_pk: int) -> HttpResponse:
    playbook = _draft(request, pk)
    if playbook is None:
        return _locked(request, pk)
    item = _item(playbook, item_pk)
    stage = _stage(playbook, item.stage_id)
    form = ItemForm(request.POST or None, initial=ItemForm.initial_for(item), prefix=f"item-{item.pk}")
    if request.method == "POST" and form.is_valid():
        try:
            item = services.playbook_item_update(actor=request.user, item=item, values=form.item_values())
        except ValidationError as e:
            apply_service_error(form, e)
        else:
            return _done(
                request, playbook.pk, _("“%(label)s” saved.") % {"label": item.label}, f"stage-{stage.pk}"
            )
    return _form_response(
        request,
        playbook,
        "sales/playbooks/_item_form.html",
        {
            "form": form,
            "stage": stage,
            "item": item,
            "action": reverse("sales_playbook_item_edit", args=[playbook.pk, item.pk]),
        },
        _("Checklist item “%(label)s”") % {"label": item.label},
    )


@access.roles(*EDIT_ROLES)
@require_POST
def item_delete(request: HttpRequest, pk: int, item_pk: int) -> HttpResponse:
    playbook = _draft(request, pk)
    if playbook is None:
        return _locked(request, pk)
    item = _item(playbook, item_pk)
    try:
        services.playbook_item_delete(actor=request.user, item=item)
    except ValidationError as e:
        return _failed(request, playbook.pk, e)
    return _done(
        request, playbook.pk, _("“%(label)s” deleted.") % {"label": item.label}, f"stage-{item.stage_id}"
    )


@access.roles(*EDIT_ROLES)
@require_POST
def item_move(request: HttpRequest, pk: int, item_pk: int) -> HttpResponse:
    playbook = _draft(request, pk)
    if playbook is None:
        return _locked(request, pk)
    item = _item(playbook, item_pk)
    offset = -1 if request.POST.get("direction") == "up" else 1
    try:
        services.playbook_item_move(actor=request.user, item=item, offset=offset)
    except ValidationError as e:
        return _failed(request, playbook.pk, e)
    return _done(
        request, playbook.pk, _("“%(label)s” moved.") % {"label": item.label}, f"stage-{item.stage_id}"
    )
