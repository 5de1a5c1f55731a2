"""Periodic jobs: work that runs on a schedule, declared in one place per app (its ``tasks.py``)::

    from steelyard.core.periodic import periodic

    @periodic("org.qualification_expiry_reminders", cron="0 8 * * *",
              description=_("Remind people whose qualifications expire soon."))
    def qualification_expiry_reminders() -> dict: ...

A *periodic job* is a named task plus a cron schedule (``minute hour day month weekday``,
read in ``settings.TIME_ZONE``). The decorator makes the function a task (so it can
also be enqueued) and registers a huey periodic task that the worker's scheduler fires;
every run — scheduled or started with ``manage.py run_periodic NAME`` — is recorded as a
``Job`` row like any other background work.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.module_loading import autodiscover_modules
from huey import crontab
from huey.contrib.djhuey import HUEY, close_db

INVALID_CRON = "Invalid cron expression %(cron)r: expected five fields 'minute hour day month weekday'."
UNKNOWN_JOB = "Unknown periodic job %(name)r."


@dataclass(frozen=True)
class PeriodicJob:
    """One registered periodic job."""

    name: str
    task: Any  # django_tasks Task
    cron: str
    description: Any
    matches: Callable[[dt.datetime], bool]  # local naive datetime → due now?
    huey_task: Any


_registry: dict[str, PeriodicJob] = {}


def parse_cron(expr: str) -> Callable[[dt.datetime], bool]:
    """A test ``datetime → bool`` for a five-field cron expression; ``ValueError`` when malformed."""
    fields = str(expr).split()
    if len(fields) != 5:
        raise ValueError(INVALID_CRON % {"cron": expr})
    minute, hour, day, month, weekday = fields
    try:
        return crontab(minute=minute, hour=hour, day=day, month=month, day_of_week=weekday, strict=True)
    except ValueError as exc:
        raise ValueError(INVALID_CRON % {"cron": expr}) from exc


def _local(timestamp: dt.datetime) -> dt.datetime:
    # huey runs in UTC (HUEY["utc"]); schedules are written in the company's local time.
    if not HUEY.utc:
        return timestamp
    tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    return timestamp.replace(tzinfo=dt.UTC).astimezone(tz).replace(tzinfo=None)


def periodic(name: str, *, cron: str = "0 2 * * *", description: Any = "") -> Callable[[Any], Any]:
    """Register the decorated function (or task) as periodic job ``name``; returns the task."""
    matches = parse_cron(cron)

    def decorator(fn: Any) -> Any:
        from steelyard.core.tasks import Task, task

        dj_task = fn if isinstance(fn, Task) else task(fn)
        old = _registry.pop(name, None)
        if old is not None:
            old.huey_task.unregister()

        def fire() -> None:
            periodic_run(name)

        fire.__name__ = fire.__qualname__ = f"periodic_{name.replace('.', '_')}"
        huey_task = HUEY.periodic_task(lambda ts: matches(_local(ts)), name=f"periodic:{name}")(
            close_db(fire)
        )
        _registry[name] = PeriodicJob(name, dj_task, cron, description, matches, huey_task)
        return dj_task

    return decorator


def unregister(name: str) -> None:
    """Forget periodic job ``name`` (tests use this to clean up)."""
    job = _registry.pop(name, None)
    if job is not None:
        job.huey_task.unregister()


def discover() -> None:
    """Import every installed app's ``tasks`` module so their periodic jobs register."""
    autodiscover_modules("tasks")


def periodic_jobs() -> list[PeriodicJob]:
    return sorted(_registry.values(), key=lambda j: j.name)


def periodic_get(name: str) -> PeriodicJob:
    try:
        return _registry[name]
    except KeyError:
        raise KeyError(UNKNOWN_JOB % {"name": name}) from None


def periodic_run(name: str, *, actor: Any = None) -> Any:
    """Run periodic job ``name`` now, in this process, recorded as a Job; returns the finished Job."""
    from steelyard.core.services.jobs import job_create
    from steelyard.core.tasks import execute_job

    job_def = periodic_get(name)
    job = job_create(
        task_path=job_def.task.module_path,
        args=[],
        kwargs={},
        created_by=actor,
        label=str(job_def.description or name),
        queue_name=job_def.task.queue_name,
    )
    return execute_job(job.pk) or job
