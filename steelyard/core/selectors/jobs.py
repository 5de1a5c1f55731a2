"""Reading background jobs: a person sees the jobs they started; administrators see all."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.db.models import Q, QuerySet

from steelyard.core.access import ADMINISTRATOR, user_has_role
from steelyard.core.models import Job, JobStatus

if TYPE_CHECKING:
    from steelyard.org.models import User

SORTS = {
    "newest": ("-enqueued_at",),
    "oldest": ("enqueued_at",),
    "label": ("label", "-enqueued_at"),
    "status": ("status", "-enqueued_at"),
}
DEFAULT_SORT = "newest"


def job_visible(user: User | Any) -> QuerySet[Job]:
    """Jobs ``user`` may open.

    A job can hold an export of data its starter could read, so a manager's wider data
    scope does not open their reports' jobs: only the starter and administrators see one.
    """
    qs = Job.objects.visible_to(user)
    if not user_has_role(user, ADMINISTRATOR):
        qs = qs.filter(created_by_id=user.pk)
    return qs


def job_list(*, user: User | Any, filters: Mapping[str, Any] | None = None) -> QuerySet[Job]:
    """Visible jobs filtered by ``status`` and a ``q`` text search on label/task, sorted by ``sort``."""
    filters = filters or {}
    qs = job_visible(user).select_related("created_by")
    status = filters.get("status") or ""
    if status in JobStatus.values:
        qs = qs.filter(status=status)
    q = (filters.get("q") or "").strip()
    if q:
        qs = qs.filter(Q(label__icontains=q) | Q(task_path__icontains=q))
    sort = filters.get("sort") or DEFAULT_SORT
    return qs.order_by(*SORTS.get(sort, SORTS[DEFAULT_SORT]))


def error_summary(job: Job) -> str:
    """The last line of a failed job's traceback ("ValueError: …"), safe to show its starter."""
    text = (job.error or "").strip()
    return text.splitlines()[-1] if text else ""
