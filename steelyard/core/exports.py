"""Streaming a list export as CSV: UTF-8 with a BOM (so Excel opens Chinese text), one row at a time."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from typing import Any

from django.http import StreamingHttpResponse
from django.utils import timezone


class _Echo:
    """A file-like object whose ``write`` returns the line, so ``csv.writer`` yields strings."""

    def write(self, value: str) -> str:
        return value


def csv_response(name: str, header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> StreamingHttpResponse:
    """A streamed download ``<name>-<yyyymmdd>.csv`` of ``header`` then ``rows`` (read lazily)."""
    writer = csv.writer(_Echo())

    def stream() -> Iterable[str]:
        yield "\ufeff" + writer.writerow([str(h) for h in header])
        for row in rows:
            yield writer.writerow(row)

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-{timezone.localdate():%Y%m%d}.csv"'
    return response
