"""The task shim: Job bookkeeping around the Django Tasks API, progress, and a real huey consumer."""

from __future__ import annotations

import contextlib

import pytest
from django_tasks import TaskResultStatus, default_task_backend
from django_tasks.exceptions import TaskResultDoesNotExist
from huey.contrib.djhuey import HUEY
from huey.storage import SqliteStorage

from steelyard.core import tasks as shim
from steelyard.core.models import Job, JobStatus
from steelyard.core.services import jobs as job_services
from steelyard.core.tasks import enqueue_job, job_progress, task


@pytest.fixture(autouse=True)
def _huey_immediate():
    HUEY.immediate = True
    yield
    HUEY.immediate = True


@contextlib.contextmanager
def real_queue(tmp_path):
    """A real (not immediate) huey queue in a temporary SQLite file, never the project's own."""
    HUEY._immediate = False  # bypass the setter, which would open the configured queue file
    HUEY.storage = SqliteStorage(name="steelyard-test", filename=str(tmp_path / "tasks.sqlite3"))
    try:
        yield HUEY
    finally:
        HUEY.immediate = True


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def explode(reason: str) -> None:
    raise ValueError(f"boom: {reason}")


@task
def count_rows(n: int, stop_at: int | None = None) -> dict[str, int]:
    for i in range(1, (stop_at or n) + 1):
        job_progress(i, n, message=f"row {i}")
    return {"rows": stop_at or n}


@task(takes_context=True)
def with_context(context, label: str) -> dict[str, str]:
    job_progress(1, 2)
    return {"id": context.task_result.id, "label": label, "attempt": str(context.attempt)}


def test_it_records_an_enqueued_task_as_a_successful_job(db):
    result = add.enqueue(2, 3)
    job = Job.objects.get(pk=result.id)
    assert job.status == JobStatus.SUCCESSFUL
    assert job.task_path == "steelyard.core.tests.test_tasks.add"
    assert job.args == [2, 3]
    assert job.result == 5
    assert job.started_at and job.finished_at and job.attempts == 1
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 5


def test_it_sets_starter_and_label_with_enqueue_job(personas):
    job = enqueue_job(add, actor=personas.alice, label="Adding", args=[1], kwargs={"b": 41})
    assert job.created_by == personas.alice
    assert job.label == "Adding"
    assert job.kwargs == {"b": 41}
    assert job.result == 42


def test_it_records_a_failure_with_its_traceback(db):
    result = explode.enqueue("tyre")
    job = Job.objects.get(pk=result.id)
    assert job.status == JobStatus.FAILED
    assert "ValueError: boom: tyre" in job.error
    assert "Traceback" in job.error
    assert job.finished_at is not None
    assert job.result is None


def test_it_keeps_the_callers_transaction_usable_after_a_failing_task(personas):
    explode.enqueue("x")
    # The caller can still write in its transaction after the inline failure.
    job = enqueue_job(add, actor=personas.bob, args=[1, 1])
    assert job.status == JobStatus.SUCCESSFUL


def test_it_reads_results_back_through_get_result(db):
    ok = add.enqueue(20, 22)
    again = add.get_result(ok.id)
    assert again.status == TaskResultStatus.SUCCESSFUL
    assert again.return_value == 42
    assert again.is_finished
    assert again.args == [20, 22]

    bad = explode.enqueue("x")
    failed = default_task_backend.get_result(bad.id)
    assert failed.status == TaskResultStatus.FAILED
    assert failed.errors[0].exception_class is ValueError
    assert "boom: x" in failed.errors[0].traceback
    with pytest.raises(ValueError):
        _ = failed.return_value


def test_it_refreshes_a_result_from_the_job_row(db):
    result = add.enqueue(1, 2)
    Job.objects.filter(pk=result.id).update(status=JobStatus.FAILED, error="Traceback\nKeyError: 'x'")
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class is KeyError


def test_it_raises_for_an_unknown_result(db):
    with pytest.raises(TaskResultDoesNotExist):
        default_task_backend.get_result("not-a-uuid")
    with pytest.raises(TaskResultDoesNotExist):
        default_task_backend.get_result("00000000-0000-0000-0000-000000000000")


def test_it_passes_the_task_context(db):
    result = with_context.enqueue("ctx")
    job = Job.objects.get(pk=result.id)
    assert job.status == JobStatus.SUCCESSFUL, job.error
    assert job.result == {"id": str(job.pk), "label": "ctx", "attempt": "1"}
    assert (job.progress_done, job.progress_total) == (1, 2)


def test_it_throttles_progress_writes_but_stores_the_exact_final_value(db, monkeypatch):
    writes = []
    real = job_services.job_write_progress

    def counting(**kwargs):
        writes.append(kwargs["done"])
        real(**kwargs)

    monkeypatch.setattr(job_services, "job_write_progress", counting)
    result = count_rows.enqueue(100_000)
    job = Job.objects.get(pk=result.id)
    assert job.status == JobStatus.SUCCESSFUL
    assert (job.progress_done, job.progress_total, job.percent) == (100_000, 100_000, 100)
    assert job.message == "row 100000"
    # About one write per whole percent (plus a few timed ones), never one per row.
    assert 2 <= len(writes) <= 130


def test_it_flushes_the_last_progress_when_a_job_stops_early(db):
    result = count_rows.enqueue(100_000, stop_at=12_345)
    job = Job.objects.get(pk=result.id)
    assert (job.progress_done, job.progress_total) == (12_345, 100_000)
    assert job.percent == 12


def test_it_ignores_progress_outside_a_job():
    job_progress(5, 10, message="nobody listens")  # no job, no database: nothing happens
    assert shim.current_job_id() is None


def test_it_does_not_run_a_job_twice(db):
    result = add.enqueue(1, 1)
    assert shim.execute_job(result.id) is None  # already finished: not claimable
    assert Job.objects.get(pk=result.id).attempts == 1


@pytest.mark.django_db(transaction=True)
def test_it_runs_jobs_through_a_real_huey_queue(tmp_path):
    """Not immediate mode: the job waits in a SQLite queue file until a consumer executes it."""
    with real_queue(tmp_path):
        result = add.enqueue(19, 23)
        job = Job.objects.get(pk=result.id)
        assert job.status == JobStatus.READY  # nobody ran it yet
        assert HUEY.pending_count() == 1

        message = HUEY.dequeue()
        HUEY.execute(message)

        job.refresh_from_db()
        assert job.status == JobStatus.SUCCESSFUL
        assert job.result == 42
        assert job.worker_id == shim.WORKER_ID
        assert add.get_result(result.id).return_value == 42
        assert HUEY.pending_count() == 0


@pytest.mark.django_db(transaction=True)
def test_it_enqueues_only_after_the_transaction_commits(tmp_path):
    from django.db import transaction

    with real_queue(tmp_path):
        with transaction.atomic():
            add.enqueue(1, 2)
            assert HUEY.pending_count() == 0  # a worker must not see an uncommitted job
        assert HUEY.pending_count() == 1
        with pytest.raises(RuntimeError), transaction.atomic():
            add.enqueue(3, 4)
            raise RuntimeError("rolled back")
        assert HUEY.pending_count() == 1  # the rolled-back job never reached the queue
        assert Job.objects.count() == 1


def test_it_refuses_to_start_a_worker_in_immediate_mode():
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="immediate mode"):
        call_command("run_worker")


def test_it_starts_a_worker_that_prints_backend_and_schedule(monkeypatch, tmp_path):
    from io import StringIO

    from django.core.management import call_command

    started = []

    class FakeConsumer:
        def run(self):
            started.append(True)

    monkeypatch.setattr(HUEY, "create_consumer", lambda **kw: FakeConsumer())
    out = StringIO()
    with real_queue(tmp_path):
        call_command("run_worker", "--no-periodic", stdout=out)
    text = out.getvalue()
    assert started == [True]
    assert "queue backend sqlite" in text
    assert "core.purge_old_jobs" in text and "30 3 * * 0" in text
    assert "--no-periodic" in text
