"""File import pages (/integrations/imports/): list, upload, column mapping, check, run, result.

Administrators and finance import files (a sales manager gets 403); a person sees the imports they
uploaded and administrators see all (another person's import answers 404). Reads through
``selectors.imports``, writes through ``services.imports`` (audited).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from steelyard.core import access
from steelyard.core.filters import paginate
from steelyard.core.models import Job, JobStatus
from steelyard.integrations.models import FileImport, FileImportStatus, ImportTemplate
from steelyard.integrations.selectors import imports as selectors
from steelyard.integrations.services import imports as services

ROLES = services.IMPORT_ROLES
NOT_MAPPED = ""


# --- forms -----------------------------------------------------------------------------------


def _style(form: forms.Form) -> None:
    for f in form.fields.values():
        w = f.widget
        if isinstance(w, forms.CheckboxInput):
            w.attrs.setdefault("class", "form-check-input")
        elif isinstance(w, forms.Select):
            w.attrs.setdefault("class", "form-select")
        else:
            w.attrs.setdefault("class", "form-control")


class UploadForm(forms.Form):
    """A file for one system and one kind of record, optionally read through a saved template."""

    system = forms.ModelChoiceField(label=_("System"), queryset=selectors.active_systems())
    entity = forms.ChoiceField(label=_("Records"))
    file = forms.FileField(
        label=_("File"),
        help_text=_("A .csv (UTF-8 or GBK) or .xlsx file whose first row names the columns."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx"}),
    )
    template = forms.ModelChoiceField(
        label=_("Column template"),
        required=False,
        queryset=selectors.import_template_list(),
        empty_label=_("Match the columns by their names"),
        help_text=_("A saved mapping from an earlier file of the same layout."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["system"].queryset = selectors.active_systems()
        self.fields["entity"].choices = [("", "—"), *services.entity_choices()]
        self.fields["template"].queryset = selectors.import_template_list()
        self.fields["template"].label_from_instance = lambda t: (
            f"{t.name} · {services.entity_label(t.entity)}" + (f" · {t.system}" if t.system_id else "")
        )
        _style(self)

    def clean_file(self) -> Any:
        f = self.cleaned_data["file"]
        if not services.file_format_of(f.name):
            raise forms.ValidationError(services.ERR_FILE_TYPE)
        if f.size > services.MAX_BYTES:
            raise forms.ValidationError(services.ERR_FILE_BYTES % {"mb": services.MAX_BYTES // (1024 * 1024)})
        return f


class MappingForm(forms.Form):
    """One select per field: which column of the file fills it."""

    save_as = forms.CharField(
        label=_("Save as template"),
        required=False,
        max_length=100,
        help_text=_("Give a name to reuse this mapping for the next file of the same layout."),
    )
    system_only = forms.BooleanField(label=_("Only for this system"), required=False)

    def __init__(self, *args: Any, specs: list[services.FieldSpec], header: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.specs = specs
        columns = [(h, h) for h in dict.fromkeys(h for h in header if h)]
        for spec in specs:
            self.fields[f"f_{spec.name}"] = forms.ChoiceField(
                label=spec.label,
                required=False,
                choices=[(NOT_MAPPED, _("— not imported —")), *columns],
                help_text=spec.example and _("e.g. %(example)s") % {"example": spec.example},
            )
        _style(self)

    def field_rows(self) -> list[tuple[services.FieldSpec, forms.BoundField]]:
        return [(spec, self[f"f_{spec.name}"]) for spec in self.specs]

    def mapping(self) -> dict[str, str]:
        return {s.name: self.cleaned_data.get(f"f_{s.name}") or "" for s in self.specs}


def _apply_errors(form: forms.Form, exc: ValidationError, prefix: str = "") -> None:
    if hasattr(exc, "error_dict"):
        for key, errors in exc.message_dict.items():
            name = f"{prefix}{key}" if prefix and f"{prefix}{key}" in form.fields else key
            target = name if name in form.fields else None
            for e in errors:
                form.add_error(target, e)
    else:
        for e in exc.messages:
            form.add_error(None, e)


def _get(request: HttpRequest, pk: int) -> FileImport:
    fi = selectors.file_import_get(user=request.user, pk=pk)
    if fi is None:
        raise Http404("No such import.")
    return fi


# --- list ------------------------------------------------------------------------------------


@access.roles(*ROLES)
def import_list(request: HttpRequest) -> HttpResponse:
    f = selectors.FileImportFilter(request.GET, user=request.user)
    page = paginate(request, selectors.file_import_list(user=request.user, filters=request.GET))
    labels = dict(services.entity_choices())
    for fi in page.object_list:
        fi.entity_label = labels.get(fi.entity, fi.entity)
    return render(
        request,
        "integrations/imports/list.html",
        {
            "filter": f,
            "page": page,
            "sorts": f.sort_links(request),
            "is_admin": services.is_admin(request.user),
        },
    )


# --- upload ----------------------------------------------------------------------------------


@access.roles(*ROLES)
def import_new(request: HttpRequest) -> HttpResponse:
    initial = {k: request.GET.get(k) for k in ("system", "entity") if request.GET.get(k)}
    form = UploadForm(request.POST or None, request.FILES or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            fi = services.file_import_upload(
                actor=request.user,
                system=data["system"],
                entity=data["entity"],
                upload=data["file"],
                template=data.get("template"),
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            return redirect("integrations_import_mapping", pk=fi.pk)
    entities = []
    for code, label in services.entity_choices():
        entities.append({"code": code, "label": label, "fields": services.fields_for(code)})
    return render(
        request,
        "integrations/imports/new.html",
        {"form": form, "entities": entities, "preview_rows": services.PREVIEW_ROWS},
    )


@access.roles(*ROLES)
def import_blank(request: HttpRequest, entity: str, fmt: str) -> HttpResponse:
    """The blank template of one kind of record, as .csv or .xlsx."""
    if entity not in services.importable_entities() or fmt not in services.FORMATS:
        raise Http404("No such template.")
    if fmt == "csv":
        body, content_type = services.blank_template_csv(entity), "text/csv; charset=utf-8"
    else:
        body = services.blank_template_xlsx(entity)
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="import-{entity}.{fmt}"'
    return response


# --- mapping ---------------------------------------------------------------------------------


@access.roles(*ROLES)
def import_mapping(request: HttpRequest, pk: int) -> HttpResponse:
    fi = _get(request, pk)
    if fi.status not in (FileImportStatus.UPLOADED, FileImportStatus.PREVIEWED):
        return redirect("integrations_import_detail", pk=fi.pk)
    try:
        header = services.file_import_header(fi)
        specs = services.fields_for(fi.entity)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("integrations_import_detail", pk=fi.pk)
    templates = list(selectors.import_template_list(entity=fi.entity, system=fi.system))
    mapping = dict(fi.mapping or {})
    applied = None
    if request.method == "GET" and request.GET.get("template"):
        applied = next((t for t in templates if str(t.pk) == request.GET["template"]), None)
        if applied is None:
            messages.error(request, _("That template is not available for this file."))
        else:
            mapping = services.template_mapping(applied, header)
    elif request.method == "GET" and request.GET.get("auto"):
        mapping = services.auto_mapping(fi.entity, header)
    initial = {f"f_{name}": column for name, column in mapping.items()}
    form = MappingForm(request.POST or None, specs=specs, header=header, initial=initial)
    if request.method == "POST" and form.is_valid():
        new_mapping = form.mapping()
        template = None
        try:
            if form.cleaned_data.get("save_as"):
                template = services.import_template_save(
                    actor=request.user,
                    entity=fi.entity,
                    name=form.cleaned_data["save_as"],
                    mapping=new_mapping,
                    system=fi.system if form.cleaned_data.get("system_only") else None,
                )
            template_id = request.POST.get("template_id")
            if template is None and template_id:
                template = next((t for t in templates if str(t.pk) == template_id), None)
            services.file_import_set_mapping(
                actor=request.user, file_import=fi, mapping=new_mapping, template=template
            )
            services.file_import_preview(actor=request.user, file_import=fi)
        except ValidationError as exc:
            _apply_errors(form, exc, prefix="f_")
        else:
            if template is not None and form.cleaned_data.get("save_as"):
                messages.success(request, _("Template “%(name)s” saved.") % {"name": template.name})
            return redirect("integrations_import_detail", pk=fi.pk)
    return render(
        request,
        "integrations/imports/mapping.html",
        {
            "fi": fi,
            "form": form,
            "header": header,
            "templates": templates,
            "applied": applied,
            "entity_label": services.entity_label(fi.entity),
            "unused": [h for h in header if h and h not in set(mapping.values())],
        },
    )


# --- detail, check, run ------------------------------------------------------------------------


def _check_job(fi: FileImport) -> Job | None:
    job_id = (fi.preview or {}).get("check_job")
    if not job_id:
        return None
    return Job.objects.filter(pk=job_id, status__in=[JobStatus.READY, JobStatus.RUNNING]).first()


def _detail_context(request: HttpRequest, fi: FileImport) -> dict[str, Any]:
    preview = fi.preview or {}
    running = fi.status in (FileImportStatus.QUEUED, FileImportStatus.RUNNING)
    liveness = services.file_import_liveness(fi) if running else services.Liveness("idle")
    check_job = None if running else _check_job(fi)
    progress = None
    if running:
        progress = services.file_import_progress(fi)
    elif check_job is not None:
        progress = services.file_import_progress(fi, check_job, kind="check")
    owner = services.is_admin(request.user) or fi.created_by_id == request.user.pk
    counts = preview.get("counts") or {}
    return {
        "fi": fi,
        "preview": preview,
        "counts": counts,
        "sample": preview.get("scope") == "sample",
        "running": running,
        "liveness": liveness,
        "check_job": check_job,
        "progress": progress,
        "polling": (running and not liveness.stopped) or check_job is not None,
        "can_edit": owner and fi.status in (FileImportStatus.UPLOADED, FileImportStatus.PREVIEWED),
        "can_run": owner and fi.status == FileImportStatus.PREVIEWED and check_job is None,
        "can_rerun": owner
        and (fi.status in (FileImportStatus.DONE, FileImportStatus.FAILED) or liveness.stopped),
        "entity_label": services.entity_label(fi.entity),
        "mapping_rows": _mapping_rows(fi),
        "preview_rows": services.PREVIEW_ROWS,
    }


def _mapping_rows(fi: FileImport) -> list[tuple[Any, str]]:
    try:
        specs = services.fields_for(fi.entity)
    except ValidationError:
        return []
    mapping = fi.mapping or {}
    return [(s.label, mapping[s.name]) for s in specs if mapping.get(s.name)]


@access.roles(*ROLES)
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    fi = _get(request, pk)
    return render(request, "integrations/imports/detail.html", _detail_context(request, fi))


@access.roles(*ROLES)
def import_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The live part of the import page, polled by htmx while a run or a check is going on."""
    fi = _get(request, pk)
    return render(request, "integrations/imports/detail.html#import-body", _detail_context(request, fi))


def _service_call(request: HttpRequest, fi: FileImport, fn: Any, **kwargs: Any) -> Any:
    try:
        return fn(actor=request.user, file_import=fi, **kwargs)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except PermissionDenied as exc:
        raise PermissionDenied(str(exc)) from exc
    return None


@access.roles(*ROLES)
@require_POST
def import_check(request: HttpRequest, pk: int) -> HttpResponse:
    """Check the whole file in the background (a dry run)."""
    fi = _get(request, pk)
    _service_call(request, fi, services.file_import_check_all)
    return redirect("integrations_import_detail", pk=fi.pk)


@access.roles(*ROLES)
@require_POST
def import_run(request: HttpRequest, pk: int) -> HttpResponse:
    fi = _get(request, pk)
    _service_call(request, fi, services.file_import_run)
    return redirect("integrations_import_detail", pk=fi.pk)


@access.roles(*ROLES)
@require_POST
def import_rerun(request: HttpRequest, pk: int) -> HttpResponse:
    fi = _get(request, pk)
    again = _service_call(request, fi, services.file_import_rerun)
    if again is not None:
        messages.success(request, _("The file is being imported again as a new run."))
        return redirect("integrations_import_detail", pk=again.pk)
    return redirect("integrations_import_detail", pk=fi.pk)


@access.roles(*ROLES)
def import_report(request: HttpRequest, pk: int) -> FileResponse:
    """The row error report of a finished run (CSV)."""
    fi = _get(request, pk)
    if not fi.error_report or not default_storage.exists(fi.error_report.name):
        raise Http404("No error report.")
    stem = fi.original_name.rsplit(".", 1)[0]
    return FileResponse(
        default_storage.open(fi.error_report.name, "rb"),
        as_attachment=True,
        filename=f"{stem}-errors.csv",
        content_type="text/csv; charset=utf-8",
    )


# --- templates -------------------------------------------------------------------------------


@access.roles(*ROLES)
def template_list(request: HttpRequest) -> HttpResponse:
    entity = request.GET.get("entity") or ""
    qs = selectors.import_template_list(entity=entity or None)
    page = paginate(request, qs)
    labels = dict(services.entity_choices())
    for t in page.object_list:
        t.entity_label = labels.get(t.entity, t.entity)
    return render(
        request,
        "integrations/imports/templates.html",
        {
            "page": page,
            "entity": entity,
            "entities": list(labels.items()),
            "is_admin": services.is_admin(request.user),
        },
    )


@access.roles(*ROLES)
@require_POST
def template_delete(request: HttpRequest, pk: int) -> HttpResponse:
    template = get_object_or_404(ImportTemplate, pk=pk)
    services.import_template_delete(actor=request.user, template=template)
    messages.success(request, _("Template “%(name)s” deleted.") % {"name": template.name})
    return redirect(reverse("integrations_import_templates"))
