"""Writing job rows: the bookkeeping of background work.

A *job* (:class:`~steelyard.core.models.Job`) is one run of a task. The task backend in
``steelyard.core.tasks`` is the only caller of the lifecycle functions here
(create → start → succeed/fail); ``job_purge_finished`` is called by the weekly purge.

State changes of a job are bookkeeping, not business changes, so they are not written to
the audit log one by one (a busy system runs thousands of jobs a day); what a job *does*
is audited by the services it calls, and a purge is audited as one entry.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from steelyard.core.models import AuditAction, Job, JobStatus
from steelyard.core.services.audit import audit_record

if TYPE_CHECKING:
    from steelyard.org.models import User

logger = logging.getLogger(__name__)

EXPORTS_DIR = "exports/"
MESSAGE_MAX = Job._meta.get_field("message").max_length or 300
LABEL_MAX = Job._meta.get_field("label").max_length or 200


@transaction.atomic
def job_create(
    *,
    task_path: str,
    args: list[Any],
    kwargs: dict[str, Any],
    created_by: User | None = None,
    label: str = "",
    queue_name: str = "default",
) -> Job:
    """A new job row in status READY; the backend enqueues it once this transaction commits."""
    real_user = created_by if created_by is not None and getattr(created_by, "pk", None) else None
    return Job.objects.create(
        task_path=task_path,
        args=args,
        kwargs=kwargs,
        created_by=real_user,
        label=str(label)[:LABEL_MAX],
        queue_name=queue_name,
    )


def job_start(*, job_id: Any, worker_id: str) -> bool:
    """Claim a READY job for this worker (READY → RUNNING); False when it is gone or already taken.

    One conditional UPDATE, so two workers that receive the same message never both run it.
    """
    claimed = Job.objects.filter(pk=job_id, status=JobStatus.READY).update(
        status=JobStatus.RUNNING,
        started_at=timezone.now(),
        attempts=F("attempts") + 1,
        worker_id=worker_id[:120],
    )
    return claimed == 1


def job_write_progress(*, job_id: Any, done: int, total: int | None, message: str) -> None:
    """Store the progress of a running job (the throttling lives in the caller)."""
    Job.objects.filter(pk=job_id).update(
        progress_done=max(0, done),
        progress_total=None if total is None else max(0, total),
        message=message[:MESSAGE_MAX],
    )


def job_succeed(*, job_id: Any, result: Any) -> None:
    Job.objects.filter(pk=job_id).update(
        status=JobStatus.SUCCESSFUL, result=result, error="", finished_at=timezone.now()
    )


def job_fail(*, job_id: Any, error: str) -> None:
    Job.objects.filter(pk=job_id).update(status=JobStatus.FAILED, error=error, finished_at=timezone.now())


def job_export_path(job: Job) -> str:
    """The stored export file of a finished job ("" when it has none or it looks foreign)."""
    result = job.result if isinstance(job.result, dict) else {}
    path = str(result.get("path") or "")
    # Only files we wrote under exports/ may be served or deleted through a job.
    if not path.startswith(EXPORTS_DIR) or ".." in path:
        return ""
    return path


@transaction.atomic
def job_purge_finished(*, before: dt.datetime, actor: User | None = None) -> int:
    """Delete finished jobs that ended before ``before``, with their export files; returns how many."""
    old = Job.objects.filter(status__in=[JobStatus.SUCCESSFUL, JobStatus.FAILED], finished_at__lt=before)
    paths = [p for p in (job_export_path(j) for j in old.only("pk", "result")) if p]
    count, _ = old.delete()
    if count:
        audit_record(
            actor=actor,
            action=AuditAction.ACTION,
            verb="jobs.purged",
            extra={"jobs": count, "files": len(paths), "before": before.isoformat()},
            object_repr="background jobs",
        )

    def remove_files() -> None:
        for path in paths:
            try:
                default_storage.delete(path)
            except OSError:  # a file already gone must not stop the rest
                logger.warning("could not delete export file %s", path)

    transaction.on_commit(remove_files)
    return count
