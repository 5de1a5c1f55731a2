"""The core platform's own background jobs: the audit-log export and the weekly job purge.

Imported by ``steelyard.core.tasks`` so that the worker and ``run_periodic`` find them
the same way they find every app's ``tasks.py``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import tempfile
from typing import Any

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from steelyard.core.models import AuditAction, AuditLog
from steelyard.core.periodic import periodic
from steelyard.core.services.audit import audit_record
from steelyard.core.services.jobs import EXPORTS_DIR, job_purge_finished
from steelyard.core.tasks import current_job_id, enqueue_job, job_progress, task

JOB_RETENTION_DAYS = 90
AUDIT_EXPORT_COLUMNS = [
    "at",
    "actor",
    "action",
    "verb",
    "object_type",
    "object_id",
    "object",
    "changes",
    "ip",
    "request_id",
]
EXPORT_CHUNK = 2000


def audit_export_queryset(*, user: Any, date_from: dt.date, date_to: dt.date, action: str = "") -> Any:
    """The audit entries ``user`` may see between two local dates (inclusive), optionally one action."""
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(date_from, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    qs = AuditLog.objects.visible_to(user).filter(at__gte=start, at__lt=end)
    if action:
        qs = qs.filter(action=action)
    return qs.select_related("content_type").order_by("at", "id")


@task
def audit_export(*, actor_id: int, date_from: str, date_to: str, action: str = "") -> dict[str, Any]:
    """Write the filtered audit log to a CSV file under ``exports/``; the result holds its path."""
    from steelyard.org.models import User

    user = User.objects.get(pk=actor_id)
    qs = audit_export_queryset(
        user=user,
        date_from=dt.date.fromisoformat(date_from),
        date_to=dt.date.fromisoformat(date_to),
        action=action,
    )
    total = qs.count()
    job_progress(0, total, message=str(_("Exporting audit entries…")))
    tz = timezone.get_current_timezone()
    filename = f"audit-{date_from}-{date_to}{'-' + action if action else ''}.csv"
    with tempfile.TemporaryFile(mode="w+b") as raw:
        # utf-8-sig: Excel opens a BOM-marked CSV with Chinese text correctly.
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        writer = csv.writer(text)
        writer.writerow(AUDIT_EXPORT_COLUMNS)
        done = 0
        for entry in qs.iterator(chunk_size=EXPORT_CHUNK):
            writer.writerow(
                [
                    entry.at.astimezone(tz).isoformat(timespec="seconds"),
                    entry.actor_repr,
                    entry.action,
                    entry.verb,
                    entry.content_type.model if entry.content_type_id else "",
                    entry.object_id,
                    entry.object_repr,
                    json.dumps(entry.changes, ensure_ascii=False, sort_keys=True) if entry.changes else "",
                    entry.ip or "",
                    entry.request_id,
                ]
            )
            done += 1
            job_progress(done)
        text.flush()
        text.detach()
        raw.seek(0)
        job_id = current_job_id() or timezone.now().strftime("%Y%m%d%H%M%S")
        path = default_storage.save(f"{EXPORTS_DIR}audit-{job_id}.csv", File(raw))
    job_progress(done, total, message=str(_("Export finished.")))
    return {"path": path, "filename": filename, "rows": done}


@transaction.atomic
def audit_export_start(*, actor: Any, date_from: dt.date, date_to: dt.date, action: str = "") -> Any:
    """Start an audit-log export as a background job for ``actor`` (audited: who exported what)."""
    label = _("Audit log export %(start)s – %(end)s") % {"start": date_from, "end": date_to}
    job = enqueue_job(
        audit_export,
        actor=actor,
        label=str(label),
        kwargs={
            "actor_id": actor.pk,
            "date_from": date_from.isoformat(),
            "date_to": date_to.isoformat(),
            "action": action,
        },
    )
    audit_record(
        actor=actor,
        action=AuditAction.ACTION,
        verb="audit.exported",
        obj=job,
        extra={"date_from": date_from.isoformat(), "date_to": date_to.isoformat(), "action": action},
    )
    return job


@periodic(
    "core.purge_old_jobs",
    cron="30 3 * * 0",
    description=_("Delete finished background jobs older than 90 days, with their export files."),
)
def purge_old_jobs() -> dict[str, int]:
    before = timezone.now() - dt.timedelta(days=JOB_RETENTION_DAYS)
    return {"deleted": job_purge_finished(before=before)}
