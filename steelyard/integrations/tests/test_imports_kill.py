"""THE KILL TEST: a file import killed with SIGKILL part-way leaves nothing behind, and runs again.

The import runs in a subprocess (``manage.py run_file_import``, the worker's code path) against this
test's database (the SQLite test file or the PostgreSQL test database), so the data the test sets up
must be committed: ``transaction=True``. Once the import's progress shows rows written inside its
transaction, the process is killed. Then: no order, order line or key-map row from it; the import
shows as stopped; a re-run imports everything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from steelyard.core.models import Job, JobStatus
from steelyard.integrations.models import ExternalRecord, FileImport, FileImportStatus, InboundBatch
from steelyard.integrations.services import imports as services
from steelyard.integrations.tests.imports_support import (
    CUSTOMER_HEADER,
    ORDER_HEADER,
    csv_bytes,
    customer_rows,
    give_role,
    run,
    upload,
)
from steelyard.orders.models import OrderLine, OrderStatusEvent, SalesOrder
from steelyard.orders.testing import make_product, make_system

ORDERS = 4_500  # several engine chunks (1,000 records each), so the kill lands between two of them
WAIT_S = 180


def _database_url() -> str:
    """This test's own database, as a DATABASE_URL for the subprocess."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = quote(s["USER"] or "", safe="")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"], safe="")
    host = s.get("HOST") or "127.0.0.1"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}@{host}{port}/{s['NAME']}"


def _orders_csv() -> bytes:
    rows = []
    for n in range(ORDERS):
        for line in (1, 2):
            rows.append(
                [
                    f"K{n:05d}",
                    1,
                    f"C{n % 5:03d}",
                    "2025-03-01",
                    "CNY",
                    line,
                    "P1" if line == 1 else "P2",
                    1,
                    "10",
                ]
            )
    return csv_bytes(ORDER_HEADER, rows)


def _wait_for_writes(proc: subprocess.Popen, fi: FileImport) -> dict[str, Any]:
    """Poll the run's progress until it shows rows applied inside the transaction."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the import ended before it could be killed (rc {proc.returncode}):\n{out}\n{err}")
        beat = services.read_progress_file(fi.pk)
        if beat and beat.get("phase") == services.PHASE_IMPORTING and int(beat.get("done") or 0) > 0:
            return beat
        time.sleep(0.02)
    proc.kill()
    pytest.fail("no progress from the import subprocess")


@pytest.mark.django_db(transaction=True)
def test_a_killed_import_leaves_nothing_and_can_run_again(personas: Any) -> None:
    alice = give_role(personas.alice)
    erp = make_system("erp")[0]
    run(alice, upload(alice, erp, "customer", csv_bytes(CUSTOMER_HEADER, customer_rows(5)), "c.csv"))
    make_product("P1")
    make_product("P2")
    fi = upload(alice, erp, "order", _orders_csv(), "orders.csv")
    assert fi.total == 2 * ORDERS

    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "TASK_BACKEND": "immediate",
        "STEELYARD_TESTING": "false",
    }
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "run_file_import", str(fi.pk)],
        cwd=Path(settings.BASE_DIR),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        beat = _wait_for_writes(proc, fi)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert beat["pid"] == proc.pid and 0 < beat["done"] < beat["total"]

    # Rows were written inside the transaction (progress said so); none of them is there now.
    assert SalesOrder.objects.count() == 0
    assert OrderLine.objects.count() == 0
    assert OrderStatusEvent.objects.count() == 0
    assert ExternalRecord.objects.filter(entity="order").count() == 0
    assert InboundBatch.objects.filter(entity="order").count() == 0

    # The import still says "running" (that was committed before the transaction), but it is dead.
    fi.refresh_from_db()
    assert fi.status == FileImportStatus.RUNNING and fi.job_id
    if connection.vendor == "postgresql":
        # There the progress also reached the job row, through a second connection outside the transaction.
        job = Job.objects.get(pk=fi.job_id)
        assert job.status == JobStatus.RUNNING and job.progress_done > 0
    alive = services.file_import_liveness(fi)
    assert alive.state == "dead", alive

    again = services.file_import_rerun(actor=alice, file_import=fi)
    assert again.status == FileImportStatus.DONE, again.error
    assert (again.created, again.rejected) == (ORDERS, 0)
    assert SalesOrder.objects.count() == ORDERS and OrderLine.objects.count() == 2 * ORDERS
    assert ExternalRecord.objects.filter(entity="order").count() == ORDERS
    fi.refresh_from_db()
    assert fi.status == FileImportStatus.FAILED and fi.error
