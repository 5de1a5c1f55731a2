"""Background jobs in the UI: the list of one's jobs, a job's live progress page, downloads, the audit export."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from steelyard.core import access
from steelyard.core.models import AuditAction, Job, JobStatus
from steelyard.core.selectors.jobs import error_summary, job_list, job_visible
from steelyard.core.services.jobs import job_export_path

PAGE_SIZE = 25
STALE_QUEUE_SECONDS = 60
DATE_ORDER_ERROR = _("The end date must not be before the start date.")
RANGE_TOO_LONG = _("Export at most 366 days at a time.")


def _job_context(request: HttpRequest, job: Job) -> dict[str, Any]:
    is_admin = access.user_has_role(request.user, access.ADMINISTRATOR)
    running_blind = job.status == JobStatus.RUNNING and not job.progress_total
    result_text = ""
    if job.status == JobStatus.SUCCESSFUL and job.result is not None:
        result_text = json.dumps(job.result, ensure_ascii=False, indent=2, sort_keys=True)
    return {
        "job": job,
        "is_admin": is_admin,
        # An unknown total shows a full striped bar: busy, amount unknown.
        "bar_percent": 100 if running_blind else job.percent,
        "download_path": job_export_path(job) if job.status == JobStatus.SUCCESSFUL else "",
        "result_text": result_text,
        "error_summary": error_summary(job),
        "stale_queue": job.status == JobStatus.READY
        and (timezone.now() - job.enqueued_at).total_seconds() > STALE_QUEUE_SECONDS,
    }


@access.authenticated
def job_list_view(request: HttpRequest) -> HttpResponse:
    filters = {k: request.GET.get(k, "") for k in ("status", "q", "sort")}
    page = Paginator(job_list(user=request.user, filters=filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "core/jobs/list.html",
        {
            "page": page,
            "filters": filters,
            "statuses": JobStatus.choices,
            "sorts": [
                ("newest", _("Newest first")),
                ("oldest", _("Oldest first")),
                ("label", _("Name")),
                ("status", _("Status")),
            ],
            "querystring": query.urlencode(),
            "is_admin": access.user_has_role(request.user, access.ADMINISTRATOR),
        },
    )


@access.authenticated
def job_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    job = get_object_or_404(job_visible(request.user).select_related("created_by"), pk=pk)
    return render(request, "core/jobs/detail.html", _job_context(request, job))


@access.authenticated
def job_status(request: HttpRequest, pk: Any) -> HttpResponse:
    """The status block alone, polled by htmx every second until the job has finished."""
    job = get_object_or_404(job_visible(request.user), pk=pk)
    return render(request, "core/jobs/detail.html#job-status", _job_context(request, job))


@access.authenticated
def job_download(request: HttpRequest, pk: Any) -> FileResponse:
    job = get_object_or_404(job_visible(request.user), pk=pk, status=JobStatus.SUCCESSFUL)
    path = job_export_path(job)
    if not path or not default_storage.exists(path):
        raise Http404("No file for this job.")
    result = job.result if isinstance(job.result, dict) else {}
    filename = str(result.get("filename") or path.rsplit("/", 1)[-1])
    return FileResponse(default_storage.open(path, "rb"), as_attachment=True, filename=filename)


class AuditExportForm(forms.Form):
    """What part of the audit log to export."""

    date_from = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))
    action = forms.ChoiceField(
        label=_("Action"),
        required=False,
        choices=[("", _("All actions")), *AuditAction.choices],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs.setdefault(
                "class", "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end:
            if end < start:
                raise ValidationError(DATE_ORDER_ERROR)
            if (end - start).days > 366:
                raise ValidationError(RANGE_TOO_LONG)
        return data


@access.admin_only
def audit_export(request: HttpRequest) -> HttpResponse:
    from steelyard.core.platform_jobs import audit_export_start

    if request.method == "POST":
        form = AuditExportForm(request.POST)
        if form.is_valid():
            job = audit_export_start(
                actor=request.user,
                date_from=form.cleaned_data["date_from"],
                date_to=form.cleaned_data["date_to"],
                action=form.cleaned_data["action"],
            )
            return redirect("job_detail", pk=job.pk)
    else:
        today = timezone.localdate()
        form = AuditExportForm(initial={"date_from": today - dt.timedelta(days=30), "date_to": today})
    return render(request, "core/jobs/audit_export.html", {"form": form})
