"""Build (or reuse) the benchmark data set of a scale: ``python -m bench scale --scale L --db sqlite``.

Each (scale, database) pair gets its own database, so benchmarks never touch the development one:

- SQLite: ``bench/.data/bench-<scale>.sqlite3``;
- PostgreSQL: database ``steelyard_bench_<scale>`` on ``$BENCH_PG_URL``
  (default ``postgres://postgres@127.0.0.1:5432/``), created when missing.

The data set is the demo (``seed_demo``) grown to the scale by every module's seeders. When the build
finishes, a marker row goes into the audit log (verb ``bench.dataset_built``); later runs that find it
skip the build. ``--rebuild`` ignores the marker (the seeders are idempotent and top the data up).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / ".data"
REPO_ROOT = Path(__file__).resolve().parent.parent
PG_BASE_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/")
MARKER_VERB = "bench.dataset_built"
SEED = 42


def database_url(scale: str, db: str) -> str:
    if db == "sqlite":
        return f"sqlite:///{DATA_DIR / f'bench-{scale}.sqlite3'}"
    if db == "postgres":
        return PG_BASE_URL.rstrip("/") + f"/steelyard_bench_{scale.lower()}"
    raise ValueError(f"unknown database {db!r} (sqlite or postgres)")


def _create_pg_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(scale: str, db: str) -> None:
    """Point Django at the benchmark database of ``scale`` and start it (call before any Django import).

    DEBUG is off, as in production: with DEBUG on, Django keeps every query in memory and the
    timings would measure that too.
    """
    import sys

    url = database_url(scale, db)
    if db == "sqlite":
        DATA_DIR.mkdir(parents=True, exist_ok=True)
    else:
        _create_pg_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "steelyard.settings")
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    import django

    django.setup()


def ensure_dataset(scale: str, *, rebuild: bool = False, seed: int = SEED) -> dict[str, Any]:
    """Migrate and build the data set unless its marker says it is already there.

    Returns ``{"built": bool, "build_s": float | None}``.
    """
    from django.core.management import call_command

    from steelyard.core.demo import run_demo
    from steelyard.core.models import AuditAction, AuditLog
    from steelyard.core.services.audit import audit_record

    call_command("migrate", verbosity=0, interactive=False)
    marker = AuditLog.objects.filter(verb=MARKER_VERB, object_repr=f"{scale}:{seed}")
    if marker.exists() and not rebuild:
        return {"built": False, "build_s": None}
    print(f"building the {scale} data set (seed {seed}) ...", flush=True)
    started = time.perf_counter()
    ctx = run_demo(scale=scale, seed=seed, log=lambda line: print(line, flush=True))
    build_s = time.perf_counter() - started
    audit_record(
        actor=None,
        action=AuditAction.ACTION,
        verb=MARKER_VERB,
        object_repr=f"{scale}:{seed}",
        extra={"scale": scale, "seed": seed, "build_s": round(build_s, 1), "created": dict(ctx.created)},
    )
    print(f"built in {build_s:.1f}s: {dict(ctx.created)}", flush=True)
    return {"built": True, "build_s": round(build_s, 1)}


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", choices=("S", "M", "L"), default="L")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rebuild", action="store_true", help="run the seeders even if the marker exists")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench scale", description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    setup_django(args.scale, args.db)
    result = ensure_dataset(args.scale, rebuild=args.rebuild)
    from steelyard.core.models import AuditLog
    from steelyard.org.models import OrgUnit, User

    print(
        json.dumps(
            {
                "bench": "scale",
                "scale": args.scale,
                "db": args.db,
                "build_s": result["build_s"],
                "users": User.objects.count(),
                "org_units": OrgUnit.objects.count(),
                "audit_rows": AuditLog.objects.count(),
            }
        )
    )
    return 0
