"""The task shim: Steelyard code imports ``task`` from here, never from huey or django_tasks directly.

Background work uses the Django Tasks API (``django_tasks``, Django 6's ``django.tasks``
backported) and huey runs it::

    from steelyard.core.tasks import enqueue_job, job_progress, task

    @task
    def rebuild_forecast(plan_id: int) -> dict:
        for i, row in enumerate(rows):
            job_progress(i + 1, len(rows), message="…")   # throttled, shown as a progress bar
        return {"rows": len(rows)}

    job = enqueue_job(rebuild_forecast, actor=request.user, label=_("Rebuild forecast"), args=[plan.pk])

Every run is a :class:`~steelyard.core.models.Job` row — created in the caller's
transaction, handed to huey only once that transaction commits (a worker never sees an
uncommitted job) — and huey carries nothing but the job id to one generic huey task,
``run_job``. The worker claims the row (READY → RUNNING), runs the function, and stores
the JSON result or the traceback. ``task.enqueue(...)`` from the plain Tasks API works
too (without a starter or label), and ``get_result(id)`` reads the row back.

In huey's immediate mode (tests, ``TASK_BACKEND=immediate``) a job runs inline at once,
through the same bookkeeping, inside a savepoint so a failing task cannot break the
caller's transaction.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import logging
import os
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from traceback import format_exception
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils.module_loading import import_string
from django_tasks import TaskContext, TaskResult, TaskResultStatus, task
from django_tasks.backends.base import BaseTaskBackend
from django_tasks.base import Task, TaskError
from django_tasks.exceptions import TaskResultDoesNotExist
from django_tasks.utils import normalize_json
from huey.contrib.djhuey import HUEY, close_db

from steelyard.core.models import Job, JobStatus
from steelyard.core.services import jobs as job_services

if TYPE_CHECKING:
    from steelyard.org.models import User

__all__ = [
    "HueyBackend",
    "Task",
    "TaskContext",
    "TaskResult",
    "enqueue_job",
    "execute_job",
    "job_progress",
    "task",
]

logger = logging.getLogger(__name__)

WORKER_ID = f"{socket.gethostname()}.{os.getpid()}"
PROGRESS_MIN_INTERVAL = 0.5  # seconds between progress writes, unless a whole percent passed


# --- progress -------------------------------------------------------------------------


@dataclass
class ProgressTracker:
    """The progress of the job running in this thread; writes to the database are throttled.

    A write happens on the first report, when at least ``PROGRESS_MIN_INTERVAL`` seconds
    passed since the last one, or when the percentage moved by a whole percent — so a
    million-row job writes about a hundred times, not a million. ``flush`` stores the
    last reported value exactly when the job ends.
    """

    job_id: Any
    done: int = 0
    total: int | None = None
    message: str = ""
    writes: int = 0
    _written: tuple[int, int | None, str] | None = None
    _written_at: float = field(default=-1e9)
    _written_percent: int = -1

    @property
    def percent(self) -> int | None:
        if not self.total:
            return None
        return min(100, self.done * 100 // self.total)

    def report(self, done: int, total: int | None = None, message: str | None = None) -> None:
        self.done = max(0, int(done))
        if total is not None:
            self.total = max(0, int(total))
        if message is not None:
            self.message = str(message)
        now = time.monotonic()
        percent = self.percent
        if (
            now - self._written_at >= PROGRESS_MIN_INTERVAL
            or (percent is not None and percent >= self._written_percent + 1)
            or (self.total is not None and self.done >= self.total)
        ):
            self._write(now)

    def flush(self) -> None:
        self._write(time.monotonic())

    def _write(self, now: float) -> None:
        state = (self.done, self.total, self.message)
        if state == self._written:
            return
        job_services.job_write_progress(
            job_id=self.job_id, done=self.done, total=self.total, message=self.message
        )
        self._written, self._written_at = state, now
        self._written_percent = self.percent if self.percent is not None else -1
        self.writes += 1


_current_tracker: contextvars.ContextVar[ProgressTracker | None] = contextvars.ContextVar(
    "steelyard_job_progress", default=None
)


def job_progress(done: int, total: int | None = None, message: str | None = None) -> None:
    """Report the progress of the job running now: ``done`` of ``total`` items, and what it is doing.

    ``total`` and ``message`` keep their previous values when omitted. Outside a job (a
    task function called directly, a shell) this does nothing, so task code needs no
    special case.
    """
    tracker = _current_tracker.get()
    if tracker is not None:
        tracker.report(done, total, message)


def current_job_id() -> str | None:
    """The id of the job running in this thread, if any."""
    tracker = _current_tracker.get()
    return str(tracker.job_id) if tracker is not None else None


# --- running a job (worker side) ------------------------------------------------------


class _RestoredTask(Task):
    """A Task rebuilt for a bare function path; skips validation, which may fail if settings changed."""

    def __post_init__(self) -> None:
        pass


def resolve_task(task_path: str) -> Task:
    """The Task stored under ``task_path`` (``module.function``)."""
    obj = import_string(task_path)
    if isinstance(obj, Task):
        return obj
    return _RestoredTask(func=obj)


@contextlib.contextmanager
def _savepoint_if_nested() -> Iterator[None]:
    # Inline (immediate-mode) runs happen inside the caller's transaction: a savepoint keeps
    # a failing task from poisoning it. A worker runs in autocommit so progress is visible at once.
    if connection.in_atomic_block:
        with transaction.atomic():
            yield
    else:
        yield


def _error_text(exc: BaseException) -> str:
    return "".join(format_exception(exc))


def execute_job(job_id: Any) -> Job | None:
    """Run one READY job in this process and record its outcome; None when it was not claimable."""
    if not job_services.job_start(job_id=job_id, worker_id=WORKER_ID):
        logger.warning("job %s is gone or already taken; skipping", job_id)
        return None
    job = Job.objects.get(pk=job_id)
    tracker = ProgressTracker(job_id=job.pk, done=job.progress_done, total=job.progress_total)
    token = _current_tracker.set(tracker)
    try:
        dj_task = resolve_task(job.task_path)
        args: list[Any] = list(job.args or [])
        if dj_task.takes_context:
            args.insert(0, TaskContext(task_result=job_to_result(job, dj_task)))
        with _savepoint_if_nested():
            value = normalize_json(dj_task.call(*args, **(job.kwargs or {})))
    except Exception as exc:
        logger.exception("job %s (%s) failed", job.pk, job.task_path)
        tracker.flush()
        job_services.job_fail(job_id=job.pk, error=_error_text(exc))
    else:
        tracker.flush()
        job_services.job_succeed(job_id=job.pk, result=value)
    finally:
        _current_tracker.reset(token)
    return Job.objects.get(pk=job.pk)


def _run_job(job_id: str) -> None:
    execute_job(job_id)


# The one huey task: the message carries only the job id, the row carries everything else.
run_job = HUEY.task(name="steelyard.run_job")(close_db(_run_job))


# --- the Tasks API backend ------------------------------------------------------------


def _exception_class_path(traceback_text: str) -> str:
    # The last line of a formatted traceback is "pkg.mod.Error: message" ("ValueError: …" for builtins).
    last = traceback_text.strip().splitlines()[-1] if traceback_text.strip() else ""
    name = last.split(":", 1)[0].strip() or "Exception"
    return name if "." in name else f"builtins.{name}"


def job_to_result(job: Job, dj_task: Task | None = None) -> TaskResult:
    """The Tasks API view of a job row."""
    dj_task = dj_task or resolve_task(job.task_path)
    errors = []
    if job.status == JobStatus.FAILED and job.error:
        errors.append(TaskError(exception_class_path=_exception_class_path(job.error), traceback=job.error))
    result: TaskResult = TaskResult(
        task=dj_task,
        id=str(job.pk),
        status=TaskResultStatus(job.status),
        enqueued_at=job.enqueued_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        last_attempted_at=job.started_at,
        args=list(job.args or []),
        kwargs=dict(job.kwargs or {}),
        backend=dj_task.backend,
        errors=errors,
        worker_ids=[job.worker_id] * job.attempts if job.worker_id else [],
    )
    if job.status == JobStatus.SUCCESSFUL:
        object.__setattr__(result, "_return_value", job.result)
    return result


def _huey_eta(run_after: dt.datetime | None) -> dt.datetime | None:
    if run_after is None:
        return None
    return run_after.astimezone(dt.UTC).replace(tzinfo=None) if HUEY.utc else run_after


def _dispatch(job_id: Any, run_after: dt.datetime | None) -> None:
    """Hand the job to huey: inline now in immediate mode, else once the current transaction commits."""
    if HUEY.immediate:
        run_job(str(job_id))
        return

    def send() -> None:
        try:
            eta = _huey_eta(run_after)
            if eta is not None:
                run_job.schedule(args=(str(job_id),), eta=eta)
            else:
                run_job(str(job_id))
        except Exception as exc:  # the queue is unreachable: say so on the job instead of leaving it queued
            logger.exception("could not enqueue job %s", job_id)
            job_services.job_fail(job_id=job_id, error=_error_text(exc))

    transaction.on_commit(send)


class HueyBackend(BaseTaskBackend):
    """Django Tasks backend that records each run as a ``Job`` row and runs it with huey."""

    supports_defer = True
    supports_get_result = True
    supports_async_task = False
    supports_priority = False

    def enqueue(self, task: Task, args: Sequence[Any], kwargs: dict[str, Any]) -> TaskResult:  # type: ignore[override]
        job = self.enqueue_job(task, args=args, kwargs=kwargs)
        return job_to_result(job, task)

    def enqueue_job(
        self,
        task: Task,
        *,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        actor: User | None = None,
        label: str = "",
    ) -> Job:
        self.validate_task(task)
        job = job_services.job_create(
            task_path=task.module_path,
            args=normalize_json(list(args)),
            kwargs=normalize_json(dict(kwargs or {})),
            created_by=actor,
            label=str(label),
            queue_name=task.queue_name,
        )
        _dispatch(job.pk, task.run_after)
        if HUEY.immediate:
            job.refresh_from_db()
        return job

    def get_result(self, result_id: str) -> TaskResult:
        try:
            job = Job.objects.get(pk=result_id)
        except (Job.DoesNotExist, ValidationError, ValueError, TypeError) as exc:
            raise TaskResultDoesNotExist(result_id) from exc
        return job_to_result(job)


def enqueue_job(
    task: Task,
    *,
    actor: User | None = None,
    label: str = "",
    args: Sequence[Any] = (),
    kwargs: dict[str, Any] | None = None,
) -> Job:
    """Enqueue ``task`` as a job started by ``actor`` (shown on their jobs page as ``label``)."""
    backend = task.get_backend()
    if not isinstance(backend, HueyBackend):
        raise TypeError(f"enqueue_job needs the HueyBackend, not {type(backend).__name__}")
    return backend.enqueue_job(task, args=args, kwargs=kwargs, actor=actor, label=label)


# The core app's own jobs live in their own module; importing them here lets
# ``autodiscover_modules("tasks")`` find them like any app's tasks.
from steelyard.core import platform_jobs  # noqa: E402,F401
