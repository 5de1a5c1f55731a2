"""Customer import pages (/customers/import/): upload, preview with per-row errors, commit, result.

The uploaded file is kept under ``imports/`` in the default storage and remembered in the
uploader's session under a random token, so only the uploader can preview or commit it.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from steelyard.core import access
from steelyard.core.tasks import enqueue_job
from steelyard.customers.services import imports as services

SESSION_KEY = "customer_imports"
SESSION_KEEP = 5
PREVIEW_ROWS = 200


class ImportUploadForm(forms.Form):
    """The file to import."""

    file = forms.FileField(
        label=_("File"),
        help_text=_("A .csv (UTF-8 or GBK) or .xlsx file whose first row names the columns."),
        widget=forms.ClearableFileInput(attrs={"class": "form-control", "accept": ".csv,.xlsx"}),
    )

    def clean_file(self) -> Any:
        f = self.cleaned_data["file"]
        if not f.name.lower().endswith((".csv", ".xlsx")):
            raise forms.ValidationError(services.ERR_FILE_TYPE)
        if f.size > services.MAX_BYTES:
            raise forms.ValidationError(services.ERR_FILE_BYTES)
        return f


def _remember(request: HttpRequest, path: str, filename: str) -> str:
    token = uuid.uuid4().hex
    stored = dict(request.session.get(SESSION_KEY, {}))
    stored[token] = {"path": path, "filename": filename}
    # Keep only the last few uploads in the session.
    request.session[SESSION_KEY] = dict(list(stored.items())[-SESSION_KEEP:])
    return token


def _upload(request: HttpRequest, token: str) -> dict[str, str]:
    entry = request.session.get(SESSION_KEY, {}).get(token)
    if not entry:
        raise Http404("No such upload.")
    return entry


def _preview(request: HttpRequest, token: str) -> tuple[dict[str, str], services.ImportReport]:
    entry = _upload(request, token)
    try:
        data = services.import_load(entry["path"])
    except (OSError, services.ValidationError) as exc:
        raise Http404("The uploaded file is gone.") from exc
    return entry, services.import_preview(actor=request.user, data=data, filename=entry["filename"])


def _columns() -> list[services.ImportColumn]:
    return list(services.COLUMNS)


@access.roles(*services.IMPORT_ROLES)
def import_upload(request: HttpRequest) -> HttpResponse:
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        f = form.cleaned_data["file"]
        data = f.read()
        path = services.import_store(data=data, filename=f.name)
        token = _remember(request, path, f.name)
        return redirect("customer_import_preview", token=token)
    return render(
        request,
        "customers/import_upload.html",
        {"form": form, "columns": _columns(), "job_threshold": services.JOB_THRESHOLD},
    )


@access.roles(*services.IMPORT_ROLES)
def import_template(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(
        services.template_xlsx(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = 'attachment; filename="customer-import-template.xlsx"'
    return response


@access.roles(*services.IMPORT_ROLES)
def import_preview(request: HttpRequest, token: str) -> HttpResponse:
    entry, report = _preview(request, token)
    problems = report.error_rows
    return render(
        request,
        "customers/import_preview.html",
        {
            "token": token,
            "report": report,
            "problems": problems[:PREVIEW_ROWS],
            "more_problems": max(0, len(problems) - PREVIEW_ROWS),
            "sample": [r for r in report.rows if r.ok][:20],
            "background": len(report.rows) > services.JOB_THRESHOLD,
        },
    )


@access.roles(*services.IMPORT_ROLES)
def import_report(request: HttpRequest, token: str) -> HttpResponse:
    entry, report = _preview(request, token)
    # utf-8-sig: Excel opens a BOM-marked CSV with Chinese text correctly.
    response = HttpResponse(
        services.report_csv(report).encode("utf-8-sig"), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="customer-import-report.csv"'
    return response


@access.roles(*services.IMPORT_ROLES)
@require_POST
def import_commit(request: HttpRequest, token: str) -> HttpResponse:
    entry = _upload(request, token)
    data = services.import_load(entry["path"])
    report = services.import_preview(actor=request.user, data=data, filename=entry["filename"])
    if report.is_valid and len(report.rows) > services.JOB_THRESHOLD:
        job = enqueue_job(
            services.import_commit_job,
            actor=request.user,
            label=_("Import customers from %(file)s") % {"file": entry["filename"]},
            kwargs={"actor_id": request.user.pk, "path": entry["path"], "filename": entry["filename"]},
        )
        return redirect(reverse("job_detail", args=[job.pk]))
    if report.is_valid:
        report = services.import_commit(actor=request.user, data=data, filename=entry["filename"])
    status = 200 if report.committed else 400
    problems = report.error_rows
    return render(
        request,
        "customers/import_result.html",
        {"token": token, "report": report, "problems": problems[:PREVIEW_ROWS]},
        status=status,
    )
