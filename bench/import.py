"""File import of orders at scale: ``python -m bench import [--db sqlite|postgres] [--lines 100000]``.

What it measures, honestly:

- A **base database** (``bench/.data/bench-import.sqlite3`` or PostgreSQL ``steelyard_bench_import``) is
  built once: migrations, one administrator, the ERP system, and the master data the orders refer
  to — product lines, products and customers — created through the same inbound engine
  (``batch_apply``), as an ERP would send them. ``--rebuild`` builds it again.
- Two files are generated once and kept in ``bench/.data/``: a CSV and an xlsx of ``--lines`` order lines
  each (about five lines per order, so ~20k orders per 100k lines), with *different* orders in each
  (``SO-C…`` and ``SO-X…``), so both imports are real loads. A few rows (``--bad-share``, default 0.1%)
  name an unknown product, so the rejection path and the error report are part of the run.
- Every run starts from a fresh **copy of the base** (a file copy for SQLite, ``CREATE DATABASE …
  TEMPLATE`` for PostgreSQL), so nothing of an earlier run is in it.
- Each import goes through the real path, in this process, as the worker would run it: upload
  (``file_import_upload``, columns matched by name), then ``file_import_run`` + ``execute_job``
  (read the file, one transaction around ``batch_apply(via="file", keep="rejected")``, error report).
  ``csv_s``/``xlsx_s`` are that wall time, from "run" to "done".
- Then the CSV file is **run again** (``file_import_rerun``): ``replay_csv_s`` is its time and
  ``replay_writes`` the number of INSERT/UPDATE/DELETE statements it sent against business tables
  (orders, lines, customers, products, the key map …), counted on the connection by an execute
  wrapper. Bookkeeping writes (the job, the import row, the batch and its rejected results, the audit
  log, notifications) are counted apart as ``replay_bookkeeping_writes``.
- ``peak_rss_mb`` is the highest resident memory of this process sampled every 20 ms during the
  imports (``/proc/self/statm``); ``*_peak_rss_mb`` per import.

``--profile`` prints the top functions (cProfile: by cumulative, then by own time) of the CSV import to
stderr.
Targets: CSV ≤ 30 s, xlsx ≤ 60 s, replay writes 0, peak memory < 500 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import os
import re
import shutil
import sys
import threading
import time
from pathlib import Path
from random import Random
from typing import Any

from bench.scale import DATA_DIR, PG_BASE_URL, REPO_ROOT

FILE_VERSION = 1  # bump when the generated files change shape
SYSTEM_CODE = "bench-erp"
ADMIN = "bench-importer"
CUSTOMERS = 2_000
PRODUCT_LINES = 10
PRODUCTS = 500
SEED = 42
BOOKKEEPING_TABLES = {
    "core_job",
    "core_auditlog",
    "core_notification",
    "core_notificationdelivery",
    "integrations_fileimport",
    "integrations_inboundbatch",
    "integrations_inboundresult",
    "django_session",
}
_WRITE = re.compile(r'^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?([A-Za-z0-9_]+)"?', re.IGNORECASE)


# --- databases ---------------------------------------------------------------------------------


def _urls(db: str) -> tuple[str, str]:
    """(base, work) database URLs."""
    if db == "sqlite":
        return (
            f"sqlite:///{DATA_DIR / 'bench-import-base.sqlite3'}",
            f"sqlite:///{DATA_DIR / 'bench-import.sqlite3'}",
        )
    root = PG_BASE_URL.rstrip("/")
    return f"{root}/steelyard_bench_import_base", f"{root}/steelyard_bench_import"


def _pg_admin() -> Any:
    import psycopg

    return psycopg.connect(f"{PG_BASE_URL.rstrip('/')}/postgres", autocommit=True)


def _pg_exists(name: str) -> bool:
    with _pg_admin() as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def _pg_create(name: str, template: str | None = None) -> None:
    with _pg_admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))


def _setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "steelyard.settings")
    os.environ.setdefault("MEDIA_ROOT", str(DATA_DIR / "import-media"))
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    import django

    django.setup()


def _switch_to(url: str) -> None:
    """Point the already set-up Django at another database of the same engine."""
    from django.db import connections

    conn = connections["default"]
    conn.close()
    name = url.rsplit("/", 1)[1] if not url.startswith("sqlite") else url.removeprefix("sqlite:///")
    conn.settings_dict["NAME"] = name
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = name


# --- the base: master data through the engine ------------------------------------------------------


def _engine_apply(entity: str, records: list[dict[str, Any]], system: Any, actor: Any) -> dict[str, int]:
    from django.db import transaction

    from steelyard.integrations.services.inbound import batch_apply

    with transaction.atomic():
        outcome = batch_apply(
            system=system, entity=entity, records=records, actor=actor, via="api", keep="rejected"
        )
    counts = dict(outcome.counts)
    if counts.get("rejected"):
        bad = [r for r in outcome.results if r.outcome == "rejected"][:3]
        raise SystemExit(f"base data {entity}: {counts['rejected']} rejected, e.g. {bad}")
    return counts


def build_base(db: str, *, rebuild: bool) -> dict[str, Any]:
    base_url, _work = _urls(db)
    fresh = rebuild
    if db == "sqlite":
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path = Path(base_url.removeprefix("sqlite:///"))
        if rebuild and path.exists():
            path.unlink()
        fresh = fresh or not path.exists()
    else:
        name = base_url.rsplit("/", 1)[1]
        if rebuild or not _pg_exists(name):
            _pg_create(name)
            fresh = True
    _setup_django(base_url)
    from django.core.management import call_command

    from steelyard.integrations.models import ExternalSystem

    call_command("migrate", verbosity=0, interactive=False)
    if not fresh and ExternalSystem.objects.filter(code=SYSTEM_CODE).exists():
        return {"base_built": False, "base_s": None}
    started = time.perf_counter()
    print("building the import base (master data through the engine) ...", file=sys.stderr, flush=True)
    from steelyard.customers.validators import credit_code_check_char
    from steelyard.orders.testing import make_system
    from steelyard.org.models import Role, User

    admin, _created = User.objects.get_or_create(username=ADMIN, defaults={"display_name": "Bench importer"})
    admin.roles.set([Role.objects.get(code="administrator")])
    system = (
        ExternalSystem.objects.filter(code=SYSTEM_CODE).first() or make_system(SYSTEM_CODE, token=False)[0]
    )
    _engine_apply(
        "product_line",
        [
            {"external_id": f"PL{i:02d}", "code": f"BPL{i:02d}", "name": f"产品线{i}", "version": 1}
            for i in range(PRODUCT_LINES)
        ],
        system,
        admin,
    )
    _engine_apply(
        "product",
        [
            {
                "external_id": f"P{i:04d}",
                "code": f"BP{i:04d}",
                "name": f"产品{i}",
                "product_line": f"PL{i % PRODUCT_LINES:02d}",
                "list_price": f"{1000 + i * 10}.00",
                "version": 1,
            }
            for i in range(PRODUCTS)
        ],
        system,
        admin,
    )
    for start in range(0, CUSTOMERS, 1000):
        records = []
        for i in range(start, min(CUSTOMERS, start + 1000)):
            body = f"93{i:015d}"[:17]
            records.append(
                {
                    "external_id": f"C{i:05d}",
                    "legal_name": f"基准测试客户{i}号工程有限公司",
                    "credit_code": body + credit_code_check_char(body),
                    "city": "上海",
                    "version": 1,
                }
            )
        _engine_apply("customer", records, system, admin)
    took = round(time.perf_counter() - started, 1)
    print(f"base built in {took}s", file=sys.stderr, flush=True)
    return {"base_built": True, "base_s": took}


def clone_base(db: str) -> None:
    """A fresh work database: a copy of the base."""
    from django.db import connections

    base_url, work_url = _urls(db)
    connections.close_all()
    if db == "sqlite":
        base = Path(base_url.removeprefix("sqlite:///"))
        work = Path(work_url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{work}{suffix}").unlink()
        # The base may have WAL frames not yet in the main file: checkpoint first.
        import sqlite3

        with contextlib.closing(sqlite3.connect(base)) as c:
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        shutil.copyfile(base, work)
    else:
        _pg_create(work_url.rsplit("/", 1)[1], template=base_url.rsplit("/", 1)[1])
    # The uploads and reports of earlier runs belong to databases that are gone.
    from django.conf import settings

    media = Path(settings.MEDIA_ROOT)
    if media == DATA_DIR / "import-media":
        shutil.rmtree(media / "integrations", ignore_errors=True)
    _switch_to(work_url)


# --- the files ------------------------------------------------------------------------------------


def _order_rows(prefix: str, lines: int, bad_share: float, seed: int) -> Any:
    """Rows of order lines: [external_id, version, customer, ordered_on, currency, line_no, product, qty, price]."""
    rng = Random(f"{seed}:{prefix}")
    day0 = dt.date(2025, 1, 1)
    made = 0
    n = 0
    while made < lines:
        n += 1
        k = min(rng.randint(1, 9), lines - made)
        customer = f"C{rng.randrange(CUSTOMERS):05d}"
        ordered = (day0 + dt.timedelta(days=rng.randrange(365))).isoformat()
        for line_no in range(1, k + 1):
            product = f"P{rng.randrange(PRODUCTS):04d}"
            if rng.random() < bad_share:
                product = "NO-SUCH-PRODUCT"
            yield [
                f"{prefix}{n:06d}",
                "1",
                customer,
                ordered,
                "CNY",
                str(line_no),
                product,
                str(rng.randint(1, 5)),
                f"{rng.randint(10, 500) * 1000}.00",
            ]
        made += k


HEADER = [
    "external_id",
    "version",
    "customer",
    "ordered_on",
    "currency",
    "line_no",
    "product",
    "quantity",
    "unit_price",
]


def ensure_files(lines: int, bad_share: float) -> tuple[Path, Path, dict[str, Any]]:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    tag = f"{lines}-{bad_share:g}-v{FILE_VERSION}"
    csv_path = DATA_DIR / f"import-orders-{tag}.csv"
    xlsx_path = DATA_DIR / f"import-orders-{tag}.xlsx"
    info: dict[str, Any] = {}
    if not csv_path.exists():
        started = time.perf_counter()
        tmp = csv_path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8-sig", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(HEADER)
            w.writerows(_order_rows("SO-C", lines, bad_share, SEED))
        tmp.replace(csv_path)
        info["csv_generated_s"] = round(time.perf_counter() - started, 1)
    if not xlsx_path.exists():
        from openpyxl import Workbook

        started = time.perf_counter()
        wb = Workbook(write_only=True)
        ws = wb.create_sheet("订单")
        ws.append(HEADER)
        for row in _order_rows("SO-X", lines, bad_share, SEED + 1):
            # Numbers as numbers, dates as dates: what an ERP's Excel export holds.
            ws.append(
                [
                    row[0],
                    int(row[1]),
                    row[2],
                    dt.date.fromisoformat(row[3]),
                    row[4],
                    int(row[5]),
                    row[6],
                    int(row[7]),
                    float(row[8]),
                ]
            )
        tmp = xlsx_path.with_suffix(".tmp.xlsx")
        wb.save(tmp)
        tmp.replace(xlsx_path)
        info["xlsx_generated_s"] = round(time.perf_counter() - started, 1)
    info["csv_mb"] = round(csv_path.stat().st_size / 1e6, 1)
    info["xlsx_mb"] = round(xlsx_path.stat().st_size / 1e6, 1)
    return csv_path, xlsx_path, info


# --- measuring --------------------------------------------------------------------------------------


class RssSampler:
    """The highest resident set size of this process while it runs (sampled every 20 ms)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * self._page

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            self._stop.wait(0.02)

    def __enter__(self) -> RssSampler:
        self.peak = self._rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def mb(self) -> float:
        return round(self.peak / 1e6, 1)


class WriteCounter:
    """INSERT/UPDATE/DELETE statements sent on this thread's connection, by table."""

    def __init__(self) -> None:
        self.by_table: dict[str, int] = {}

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        m = _WRITE.match(sql)
        if m:
            table = m.group(2).lower()
            self.by_table[table] = self.by_table.get(table, 0) + (len(params) if many and params else 1)
        return execute(sql, params, many, context)

    @property
    def business(self) -> int:
        return sum(n for t, n in self.by_table.items() if t not in BOOKKEEPING_TABLES)

    @property
    def bookkeeping(self) -> int:
        return sum(n for t, n in self.by_table.items() if t in BOOKKEEPING_TABLES)


def _upload(path: Path, actor: Any, system: Any) -> Any:
    from django.core.files import File

    from steelyard.integrations.services.imports import file_import_upload

    with open(path, "rb") as fh:
        return file_import_upload(actor=actor, system=system, entity="order", upload=File(fh, name=path.name))


class PhaseTimer:
    """Wall and CPU seconds spent in the import's phases: reading the file, the engine, the report."""

    PHASES = (
        ("read", "steelyard.integrations.services.imports", "collect_records"),
        ("engine", "steelyard.integrations.services.inbound", "batch_apply"),
        ("report", "steelyard.integrations.services.imports", "write_error_report"),
    )

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._saved: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> PhaseTimer:
        import importlib

        for key, module_path, name in self.PHASES:
            module = importlib.import_module(module_path)
            original = getattr(module, name)

            def timed(*args: Any, __f: Any = original, __k: str = key, **kwargs: Any) -> Any:
                w, c = time.perf_counter(), time.process_time()
                try:
                    return __f(*args, **kwargs)
                finally:
                    self.wall[__k] = self.wall.get(__k, 0.0) + time.perf_counter() - w
                    self.cpu[__k] = self.cpu.get(__k, 0.0) + time.process_time() - c

            setattr(module, name, timed)
            self._saved.append((module, name, original))
        return self

    def __exit__(self, *exc: Any) -> None:
        for module, name, original in self._saved:
            setattr(module, name, original)

    def summary(self, prefix: str) -> dict[str, float]:
        out = {}
        for key in self.wall:
            out[f"{prefix}_{key}_s"] = round(self.wall[key], 2)
            out[f"{prefix}_{key}_cpu_s"] = round(self.cpu[key], 2)
        return out


def _run(
    fi: Any, actor: Any, *, again: bool = False, counter: WriteCounter | None = None, prefix: str = ""
) -> tuple[Any, float, float, dict[str, float]]:
    from django.db import connection

    from steelyard.core.tasks import execute_job
    from steelyard.integrations.services.imports import file_import_rerun, file_import_run

    with RssSampler() as rss, PhaseTimer() as phases:
        cpu = time.process_time()
        started = time.perf_counter()
        if again:
            fi = file_import_rerun(actor=actor, file_import=fi, dispatch=False)
            job_id = fi.job_id
        else:
            job_id = file_import_run(actor=actor, file_import=fi, dispatch=False).pk
        with connection.execute_wrapper(counter) if counter else contextlib.nullcontext():
            job = execute_job(job_id)
        took = time.perf_counter() - started
        cpu = time.process_time() - cpu
    fi.refresh_from_db()
    if job is None or fi.status != "done":
        raise SystemExit(f"import {fi.pk} did not finish: {fi.status} {fi.error} {job.error if job else ''}")
    return fi, took, rss.mb, {f"{prefix}_cpu_s": round(cpu, 2), **phases.summary(prefix)}


def _row_counts() -> dict[str, int]:
    from steelyard.integrations.models import ExternalRecord
    from steelyard.orders.models import OrderLine, OrderStatusEvent, SalesOrder

    return {
        "orders": SalesOrder.objects.count(),
        "order_lines": OrderLine.objects.count(),
        "status_events": OrderStatusEvent.objects.count(),
        "external_records": ExternalRecord.objects.count(),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench import", description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument(
        "--bad-share", type=float, default=0.001, help="share of lines naming an unknown product"
    )
    parser.add_argument("--rebuild", action="store_true", help="build the base database again")
    parser.add_argument("--profile", action="store_true", help="cProfile the CSV import (top 40 to stderr)")
    args = parser.parse_args(argv)

    base = build_base(args.db, rebuild=args.rebuild)
    csv_path, xlsx_path, files = ensure_files(args.lines, args.bad_share)
    clone_base(args.db)

    from steelyard.integrations.models import ExternalSystem
    from steelyard.org.models import User

    actor = User.objects.get(username=ADMIN)
    system = ExternalSystem.objects.get(code=SYSTEM_CODE)
    result: dict[str, Any] = {"bench": "import", "db": args.db, "lines": args.lines, **base, **files}

    # A worker has its URLconf loaded after its first job; load it here too, so the first import does
    # not pay for importing every module of the site (~2 s) when it links its notification.
    from django.urls import reverse

    reverse("integrations_import_list")
    fi_csv = _upload(csv_path, actor, system)
    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
    fi_csv, csv_s, csv_rss, csv_phases = _run(fi_csv, actor, prefix="csv")
    if args.profile:
        prof.disable()
        stats = pstats.Stats(prof, stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(60)
        stats.sort_stats("tottime").print_stats(30)
    result.update(
        csv_s=round(csv_s, 2),
        csv_rows_per_s=round(fi_csv.total / csv_s),
        csv_peak_rss_mb=csv_rss,
        csv_created=fi_csv.created,
        csv_rejected=fi_csv.rejected,
        **csv_phases,
    )
    fi_xlsx = _upload(xlsx_path, actor, system)
    fi_xlsx, xlsx_s, xlsx_rss, xlsx_phases = _run(fi_xlsx, actor, prefix="xlsx")
    result.update(
        xlsx_s=round(xlsx_s, 2),
        xlsx_rows_per_s=round(fi_xlsx.total / xlsx_s),
        xlsx_peak_rss_mb=xlsx_rss,
        xlsx_created=fi_xlsx.created,
        xlsx_rejected=fi_xlsx.rejected,
        **xlsx_phases,
    )
    before = _row_counts()
    counter = WriteCounter()
    fi_again, replay_s, replay_rss, replay_phases = _run(
        fi_csv, actor, again=True, counter=counter, prefix="replay"
    )
    after = _row_counts()
    result.update(
        replay_csv_s=round(replay_s, 2),
        replay_writes=counter.business,
        replay_bookkeeping_writes=counter.bookkeeping,
        replay_unchanged=fi_again.unchanged,
        replay_created=fi_again.created,
        replay_updated=fi_again.updated,
        replay_rows_changed=sum(abs(after[k] - before[k]) for k in after),
        replay_peak_rss_mb=replay_rss,
        **replay_phases,
    )
    if counter.business:
        result["replay_write_tables"] = {
            t: n for t, n in counter.by_table.items() if t not in BOOKKEEPING_TABLES
        }
    result["peak_rss_mb"] = max(csv_rss, xlsx_rss, replay_rss)
    result["cpus"] = os.cpu_count()
    result["load_avg_1m"] = round(os.getloadavg()[0], 2)
    result.update({f"{k}_after": v for k, v in after.items()})
    print(json.dumps(result, ensure_ascii=False))
    return 0
