"""Job pages, the audit-log export and the jobs API, from the owner's, manager's and outsider's side."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, override
from huey.contrib.djhuey import HUEY

from steelyard.core.models import AuditAction, AuditLog, Job, JobStatus
from steelyard.core.services.audit import audit_record
from steelyard.core.services.jobs import job_create
from steelyard.core.tasks import enqueue_job, task


@pytest.fixture(autouse=True)
def _huey_immediate():
    HUEY.immediate = True


@task
def noop() -> dict[str, int]:
    return {"ok": 1}


def _job(user, status=JobStatus.READY, label="Forecast rebuild", **fields) -> Job:
    job = job_create(
        task_path="steelyard.core.tests.test_jobs_views.noop",
        args=[],
        kwargs={},
        created_by=user,
        label=label,
    )
    Job.objects.filter(pk=job.pk).update(status=status, **fields)
    job.refresh_from_db()
    return job


def _today() -> dt.date:
    return timezone.localdate()


# --- job page --------------------------------------------------------------------------


def test_it_shows_a_job_to_its_starter(personas, client_for):
    job = _job(personas.alice, JobStatus.RUNNING, progress_done=40, progress_total=160, message="Rows…")
    response = client_for(personas.alice).get(reverse("job_detail", args=[job.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-percent="25"' in html
    assert 'hx-trigger="every 1s"' in html
    assert "Rows…" in html
    assert "style=" not in html.split("<main", 1)[1]


@pytest.mark.parametrize("who", ["bob", "charlie", "dora"])
def test_it_hides_a_job_from_everybody_else(personas, client_for, who):
    job = _job(personas.alice)
    c = client_for(getattr(personas, who))
    assert c.get(reverse("job_detail", args=[job.pk])).status_code == 404
    assert c.get(reverse("job_status", args=[job.pk])).status_code == 404
    assert c.get(f"/api/v1/jobs/{job.pk}").status_code == 404


def test_it_shows_any_job_to_an_administrator(personas, client_for):
    job = _job(
        personas.alice, JobStatus.FAILED, error="Traceback (most recent call last):\nValueError: bad row 7"
    )
    html = client_for(personas.admin).get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "ValueError: bad row 7" in html and "Traceback" in html


def test_it_shows_the_starter_only_the_error_summary(personas, client_for):
    job = _job(
        personas.alice,
        JobStatus.FAILED,
        error="Traceback (most recent call last):\n  File secret.py\nValueError: bad row 7",
    )
    html = client_for(personas.alice).get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "ValueError: bad row 7" in html
    assert "secret.py" not in html


def test_it_polls_until_the_job_has_finished(personas, client_for):
    job = _job(personas.alice, JobStatus.RUNNING, progress_done=1, progress_total=4)
    c = client_for(personas.alice)
    running = c.get(reverse("job_status", args=[job.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert running.lstrip().startswith('<div id="job-status"')
    assert 'hx-trigger="every 1s"' in running
    assert "<html" not in running
    Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCESSFUL, progress_done=4, result={"rows": 4})
    done = c.get(reverse("job_status", args=[job.pk])).content.decode()
    assert "hx-trigger" not in done
    assert 'data-percent="100"' in done


def test_it_shows_an_unknown_total_as_a_busy_bar(personas, client_for):
    job = _job(personas.alice, JobStatus.RUNNING)
    html = client_for(personas.alice).get(reverse("job_status", args=[job.pk])).content.decode()
    assert 'data-percent="100"' in html and "progress-bar-animated" in html


# --- job list --------------------------------------------------------------------------


def test_it_lists_only_my_own_jobs(personas, client_for):
    mine = _job(personas.alice, label="Alice export")
    _job(personas.charlie, label="Charlie export")
    html = client_for(personas.alice).get(reverse("job_list")).content.decode()
    assert "Alice export" in html and "Charlie export" not in html
    assert reverse("job_detail", args=[mine.pk]) in html
    bob_html = client_for(personas.bob).get(reverse("job_list")).content.decode()
    assert "Alice export" not in bob_html


def test_it_lists_all_jobs_for_an_administrator(personas, client_for):
    _job(personas.alice, label="Alice export")
    _job(personas.charlie, label="Charlie export")
    html = client_for(personas.admin).get(reverse("job_list")).content.decode()
    assert "Alice export" in html and "Charlie export" in html


def test_it_filters_searches_and_paginates(personas, client_for):
    for i in range(30):
        _job(personas.alice, JobStatus.SUCCESSFUL if i % 2 else JobStatus.FAILED, label=f"Job {i:02d}")
    c = client_for(personas.alice)
    failed = c.get(reverse("job_list"), {"status": "FAILED"}).context["page"]
    assert failed.paginator.count == 15
    assert {j.status for j in failed.object_list} == {JobStatus.FAILED}
    found = c.get(reverse("job_list"), {"q": "Job 07"}).context["page"]
    assert [j.label for j in found.object_list] == ["Job 07"]
    first = c.get(reverse("job_list"), {"sort": "label"})
    assert first.context["page"].object_list[0].label == "Job 00"
    assert "page=2" in first.content.decode() and "sort=label" in first.content.decode()
    assert len(c.get(reverse("job_list"), {"page": 2}).context["page"].object_list) == 5


def test_it_explains_an_empty_list(personas, client_for):
    html = client_for(personas.alice).get(reverse("job_list")).content.decode()
    assert "empty-state" in html
    assert reverse("job_audit_export") not in html  # only administrators may export the audit log


def test_it_lists_jobs_in_a_bounded_number_of_queries(personas, client_for, django_assert_max_num_queries):
    for i in range(25):
        _job(personas.charlie if i % 2 else personas.alice, label=f"Job {i}")
    c = client_for(personas.admin)
    c.get(reverse("job_list"))  # warm the session and role caches
    with django_assert_max_num_queries(8):
        assert c.get(reverse("job_list")).status_code == 200


# --- audit export ----------------------------------------------------------------------


def _rows(job: Job) -> list[list[str]]:
    with default_storage.open(job.result["path"], "rb") as f:
        text = f.read().decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_it_exports_the_filtered_audit_log_to_csv(personas, client_for):
    audit_record(
        actor=personas.alice,
        action=AuditAction.UPDATE,
        object_repr="Crane 40t",
        changes={"price": ["1", "2"]},
    )
    audit_record(actor=personas.bob, action=AuditAction.LOGIN, object_repr="")
    old = audit_record(actor=personas.bob, action=AuditAction.UPDATE, object_repr="Old thing")
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            f"UPDATE {AuditLog._meta.db_table} SET at = %s WHERE id = %s",
            [timezone.now() - dt.timedelta(days=40), old.pk],
        )
    c = client_for(personas.admin)
    response = c.post(
        reverse("job_audit_export"),
        {
            "date_from": (_today() - dt.timedelta(days=7)).isoformat(),
            "date_to": _today().isoformat(),
            "action": "update",
        },
    )
    job = Job.objects.get(task_path="steelyard.core.platform_jobs.audit_export")
    assert response.status_code == 302 and response["Location"] == reverse("job_detail", args=[job.pk])
    assert job.status == JobStatus.SUCCESSFUL, job.error
    assert job.created_by == personas.admin
    assert job.result["rows"] == 1 and job.result["path"].startswith("exports/")
    assert (job.progress_done, job.progress_total) == (1, 1)
    rows = _rows(job)
    assert rows[0][:3] == ["at", "actor", "action"]
    assert len(rows) == 2
    assert rows[1][1] == "Alice" and rows[1][2] == "update" and rows[1][6] == "Crane 40t"
    assert '"price": ["1", "2"]' in rows[1][7]
    assert AuditLog.objects.filter(verb="audit.exported", actor=personas.admin).exists()

    page = c.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert reverse("job_download", args=[job.pk]) in page
    download = c.get(reverse("job_download", args=[job.pk]))
    assert download.status_code == 200
    assert "attachment" in download["Content-Disposition"] and ".csv" in download["Content-Disposition"]
    assert b"Crane 40t" in b"".join(download.streaming_content)


def test_it_keeps_an_export_to_its_starter(personas, client_for):
    job = enqueue_job(noop, actor=personas.admin, label="x")
    Job.objects.filter(pk=job.pk).update(result={"path": "exports/none.csv"})
    for who in ("alice", "bob", "charlie"):
        c = client_for(getattr(personas, who))
        assert c.get(reverse("job_detail", args=[job.pk])).status_code == 404
        assert c.get(reverse("job_download", args=[job.pk])).status_code == 404


def test_it_refuses_the_audit_export_to_non_administrators(personas, client_for):
    for who in ("alice", "bob", "dora"):
        c = client_for(getattr(personas, who))
        assert c.get(reverse("job_audit_export")).status_code in (403, 404)
        c.post(reverse("job_audit_export"), {"date_from": "2026-01-01", "date_to": "2026-01-02"})
    assert not Job.objects.exists()


def test_it_explains_a_bad_date_range(personas, client_for):
    response = client_for(personas.admin).post(
        reverse("job_audit_export"), {"date_from": "2026-02-10", "date_to": "2026-02-01"}
    )
    assert response.status_code == 200
    with override("zh-hans"):
        expected = gettext("The end date must not be before the start date.")
    assert expected in response.content.decode()
    assert not Job.objects.exists()


def test_it_serves_no_file_outside_exports(personas, client_for):
    job = _job(personas.alice, JobStatus.SUCCESSFUL, result={"path": "../settings.py"})
    assert client_for(personas.alice).get(reverse("job_download", args=[job.pk])).status_code == 404


# --- API -------------------------------------------------------------------------------


def test_it_reports_a_job_over_the_api(personas, client_for):
    job = _job(personas.alice, JobStatus.RUNNING, progress_done=3, progress_total=12, message="working")
    data = client_for(personas.alice).get(f"/api/v1/jobs/{job.pk}").json()
    assert data["status"] == "RUNNING" and data["finished"] is False
    assert data["progress"] == {"done": 3, "total": 12, "percent": 25, "message": "working"}
    assert data["result"] is None and data["download_url"] is None


def test_it_reports_errors_over_the_api_by_role(personas, client_for):
    job = _job(personas.alice, JobStatus.FAILED, error="Traceback\n  File secret.py\nKeyError: 'x'")
    mine = client_for(personas.alice).get(f"/api/v1/jobs/{job.pk}").json()
    assert mine["error"] == "KeyError: 'x'"
    admin = client_for(personas.admin).get(f"/api/v1/jobs/{job.pk}").json()
    assert "secret.py" in admin["error"]


def test_it_requires_sign_in_for_the_api(personas, client):
    job = _job(personas.alice)
    assert client.get(f"/api/v1/jobs/{job.pk}").status_code == 401
