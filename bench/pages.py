"""Server-side time of the home page and the admin lists (p50/p95 over N requests).

``python -m bench pages [--scale L] [--db sqlite|postgres] [-n 40]``

Requests go through Django's test ``Client`` in-process, so the figure is the server's time (middleware,
view, queries, template) without network or browser. Each page gets 3 warm-up requests, then ``n``
timed ones. A page that answers 404 because its view does not exist yet is reported as ``null``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from bench.scale import add_common_arguments, ensure_dataset, setup_django

WARMUP = 3

# key, demo login, URL
PAGES: list[tuple[str, str, str]] = [
    ("home", "admin", "/"),
    ("home_manager", "manager", "/"),
    ("users_list", "admin", "/org/users/"),
    ("users_deep", "admin", "/org/users/?page=15"),
    ("users_search", "admin", "/org/users/?q=wang"),
    ("units_list", "admin", "/org/units/"),
    ("audit_list", "admin", "/audit/"),
    ("audit_deep", "admin", "/audit/?page=1000"),
]


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least ``pct``% of samples at or below it."""
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def measure(client: Any, url: str, n: int) -> dict[str, Any]:
    from django.db import connection

    # Counted with an execute wrapper: the request_started signal resets connection.queries_log.
    queries: list[str] = []

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        queries.append(sql)
        return execute(sql, params, many, context)

    try:
        with connection.execute_wrapper(count):
            first = client.get(url)
    except Exception as exc:  # a view that crashes is a finding, not a reason to stop the run
        return {"status": 500, "note": f"{type(exc).__name__}: {exc}"[:200]}
    if first.status_code != 200:
        return {"status": first.status_code, "note": "view missing" if first.status_code == 404 else ""}
    for _ in range(WARMUP - 1):
        client.get(url)
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
    return {
        "status": 200,
        "p50": round(statistics.median(samples), 1),
        "p95": round(percentile(samples, 95), 1),
        "max": round(max(samples), 1),
        "queries": len(queries),
        "bytes": len(first.content),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench pages", description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    parser.add_argument("-n", type=int, default=40, help="timed requests per page (default 40)")
    args = parser.parse_args(argv)
    setup_django(args.scale, args.db)
    build = ensure_dataset(args.scale, rebuild=args.rebuild)

    from django.test import Client

    from steelyard.core.models import AuditLog
    from steelyard.org.models import User

    clients: dict[str, Client] = {}
    result: dict[str, Any] = {"bench": "pages", "scale": args.scale, "db": args.db, "n": args.n}
    missing = []
    print(f"{'page':<14} {'url':<24} {'status':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'queries':>7}")
    for key, login, url in PAGES:
        if login not in clients:
            clients[login] = Client()
            clients[login].force_login(User.objects.get(username=login))
        m = measure(clients[login], url, args.n)
        p50, p95 = m.get("p50"), m.get("p95")
        print(
            f"{key:<14} {url:<24} {m['status']:>6} {p50 if p50 is not None else '-':>8} "
            f"{p95 if p95 is not None else '-':>8} {m.get('max', '-'):>8} {m.get('queries', '-'):>7}"
            + (f"  {m['note']}" if m.get("note") else "")
        )
        result[f"{key}_p50_ms"] = p50
        result[f"{key}_p95_ms"] = p95
        result[f"{key}_queries"] = m.get("queries")
        if m["status"] != 200:
            missing.append(f"{key}:{m['status']}")
    result["users"] = User.objects.count()
    result["audit_rows"] = AuditLog.objects.count()
    result["build_s"] = build["build_s"]
    if missing:
        result["not_measured"] = missing
    print(json.dumps(result, ensure_ascii=False))
    return 0
