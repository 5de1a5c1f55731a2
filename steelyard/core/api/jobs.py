"""``/api/v1/jobs/``: the status, progress and result of a background job, for scripts and the UI."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from ninja import Router, Schema

from steelyard.core.access import ADMINISTRATOR, user_has_role
from steelyard.core.models import Job, JobStatus
from steelyard.core.selectors.jobs import error_summary, job_visible
from steelyard.core.services.jobs import job_export_path

router = Router(tags=["jobs"])


class JobProgressOut(Schema):
    done: int
    total: int | None
    percent: int
    message: str


class JobOut(Schema):
    id: uuid.UUID
    label: str
    task: str
    status: str
    finished: bool
    progress: JobProgressOut
    result: Any = None
    error: str = ""
    download_url: str | None = None
    enqueued_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


def job_out(job: Job, *, user: Any) -> dict[str, Any]:
    """The API shape of a job; the full traceback only for administrators."""
    path = job_export_path(job) if job.status == JobStatus.SUCCESSFUL else ""
    return {
        "id": job.pk,
        "label": str(job),
        "task": job.task_path,
        "status": job.status,
        "finished": job.is_finished,
        "progress": {
            "done": job.progress_done,
            "total": job.progress_total,
            "percent": job.percent,
            "message": job.message,
        },
        "result": job.result if job.status == JobStatus.SUCCESSFUL else None,
        "error": job.error if user_has_role(user, ADMINISTRATOR) else error_summary(job),
        "download_url": reverse("job_download", args=[job.pk]) if path else None,
        "enqueued_at": job.enqueued_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


@router.get("/{uuid:job_id}", response=JobOut, summary="A background job's status, progress and result")
def job_detail(request: HttpRequest, job_id: uuid.UUID) -> dict[str, Any]:
    """404 unless the caller started the job or is an administrator."""
    user = request.user
    job = get_object_or_404(job_visible(user), pk=job_id)
    return job_out(job, user=user)
