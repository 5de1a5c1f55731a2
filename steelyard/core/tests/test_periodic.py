"""Periodic jobs: cron parsing, the registry, ``run_periodic`` and the weekly job purge."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.utils import timezone
from huey.contrib.djhuey import HUEY

from steelyard.core import periodic
from steelyard.core.models import AuditLog, Job, JobStatus
from steelyard.core.services.jobs import job_create

TEST_JOB = "tests.say_hello"
TEST_FAILING_JOB = "tests.fail"


@pytest.fixture(autouse=True)
def _huey_immediate():
    HUEY.immediate = True


def say_hello() -> dict[str, str]:
    return {"hello": "world"}


def fail_loudly() -> None:
    raise RuntimeError("the crane fell over")


@pytest.fixture
def registered():
    periodic.periodic(TEST_JOB, cron="*/5 * * * *", description="Say hello")(say_hello)
    periodic.periodic(TEST_FAILING_JOB, cron="0 0 1 1 *", description="Always fails")(fail_loudly)
    yield
    periodic.unregister(TEST_JOB)
    periodic.unregister(TEST_FAILING_JOB)


@pytest.mark.parametrize(
    ("cron", "moment", "due"),
    [
        ("0 2 * * *", dt.datetime(2026, 3, 4, 2, 0), True),
        ("0 2 * * *", dt.datetime(2026, 3, 4, 2, 1), False),
        ("*/15 8-18 * * 1-5", dt.datetime(2026, 3, 4, 9, 45), True),  # a Wednesday
        ("*/15 8-18 * * 1-5", dt.datetime(2026, 3, 7, 9, 45), False),  # a Saturday
        ("30 3 * * 0", dt.datetime(2026, 3, 8, 3, 30), True),  # Sunday
        ("0 0 1,15 * *", dt.datetime(2026, 3, 15, 0, 0), True),
    ],
)
def test_it_parses_cron_expressions(cron, moment, due):
    assert periodic.parse_cron(cron)(moment) is due


@pytest.mark.parametrize("cron", ["", "* * * *", "61 * * * *", "0 25 * * *", "a b c d e", "* * * * * *"])
def test_it_rejects_malformed_cron_expressions(cron):
    with pytest.raises(ValueError, match="Invalid cron expression"):
        periodic.parse_cron(cron)


def test_it_reads_schedules_in_local_time(registered):
    job = periodic.periodic_get("core.purge_old_jobs")  # "30 3 * * 0": Sunday 03:30 Shanghai time
    assert HUEY.utc
    sunday_0330_shanghai_in_utc = dt.datetime(2026, 3, 7, 19, 30)  # Saturday 19:30 UTC
    assert job.huey_task.task_class.validate_datetime(None, sunday_0330_shanghai_in_utc)
    assert not job.huey_task.task_class.validate_datetime(None, dt.datetime(2026, 3, 8, 3, 30))


def test_it_registers_the_platform_jobs():
    periodic.discover()
    names = [j.name for j in periodic.periodic_jobs()]
    assert "core.purge_old_jobs" in names
    assert "org.qualification_expiry_reminders" in names
    periodic_names = {t.__name__ for t in HUEY._registry._periodic_tasks}
    assert "periodic:core.purge_old_jobs" in periodic_names


def test_it_lists_periodic_jobs_with_descriptions(registered):
    out = StringIO()
    call_command("run_periodic", "--list", stdout=out)
    text = out.getvalue()
    assert "tests.say_hello" in text and "*/5 * * * *" in text and "Say hello" in text
    assert "core.purge_old_jobs" in text and "org.qualification_expiry_reminders" in text


def test_it_runs_a_periodic_job_by_name_as_a_job(db, registered):
    out = StringIO()
    call_command("run_periodic", TEST_JOB, stdout=out)
    job = Job.objects.get(task_path__endswith="say_hello")
    assert job.status == JobStatus.SUCCESSFUL
    assert job.result == {"hello": "world"}
    assert job.label == "Say hello"
    assert str(job.pk) in out.getvalue()


def test_it_reports_a_failing_periodic_job(db, registered):
    with pytest.raises(CommandError, match="the crane fell over"):
        call_command("run_periodic", TEST_FAILING_JOB)
    assert Job.objects.get(task_path__endswith="fail_loudly").status == JobStatus.FAILED


def test_it_refuses_an_unknown_periodic_job(db):
    with pytest.raises(CommandError, match="Unknown periodic job 'no.such_job'.*core.purge_old_jobs"):
        call_command("run_periodic", "no.such_job")
    with pytest.raises(CommandError, match="--list"):
        call_command("run_periodic")


def test_it_fires_a_periodic_job_like_the_scheduler_does(db, registered):
    periodic.periodic_get(TEST_JOB).huey_task.call_local()
    assert Job.objects.filter(task_path__endswith="say_hello", status=JobStatus.SUCCESSFUL).count() == 1


def _finished_job(days_ago: int, path: str = "") -> Job:
    job = job_create(task_path="steelyard.core.platform_jobs.audit_export", args=[], kwargs={})
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.SUCCESSFUL,
        finished_at=timezone.now() - dt.timedelta(days=days_ago),
        result={"path": path} if path else None,
    )
    return job


def test_it_purges_old_finished_jobs_and_their_files(db, django_capture_on_commit_callbacks):
    old_path = default_storage.save("exports/old.csv", ContentFile(b"a,b\n"))
    new_path = default_storage.save("exports/new.csv", ContentFile(b"a,b\n"))
    old = _finished_job(91, old_path)
    recent = _finished_job(10, new_path)
    queued = job_create(task_path="x.y", args=[], kwargs={})
    Job.objects.filter(pk=queued.pk).update(enqueued_at=timezone.now() - dt.timedelta(days=200))

    with django_capture_on_commit_callbacks(execute=True):
        call_command("run_periodic", "core.purge_old_jobs", stdout=StringIO())

    remaining = set(Job.objects.values_list("pk", flat=True))
    assert old.pk not in remaining
    assert {recent.pk, queued.pk} <= remaining
    assert not default_storage.exists(old_path)
    assert default_storage.exists(new_path)
    purge_run = Job.objects.get(task_path__endswith="purge_old_jobs")
    assert purge_run.result == {"deleted": 1}
    assert AuditLog.objects.filter(verb="jobs.purged").count() == 1


@time_machine.travel(dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC), tick=False)
def test_it_never_deletes_files_outside_exports(db, django_capture_on_commit_callbacks):
    keep = default_storage.save("attachments/keep.pdf", ContentFile(b"%PDF"))
    _finished_job(100, keep)
    with django_capture_on_commit_callbacks(execute=True):
        periodic.periodic_run("core.purge_old_jobs")
    assert default_storage.exists(keep)
