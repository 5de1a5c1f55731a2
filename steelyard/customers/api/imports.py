"""Customer import over the API (/api/v1/customers/import/).

``POST /customers/preview`` checks a file (multipart ``file``) and answers the per-row results;
``POST /customers`` imports it: 201 with the counts, or 400 with the row report and nothing written.
"""

# No ``from __future__ import annotations``: ninja resolves the File[...] annotation at import time.

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja import File, Router, Schema, Status
from ninja.files import UploadedFile

from steelyard.customers.services import imports as services

router = Router(tags=["customers"])


class RowOut(Schema):
    row: int
    status: str
    name: str
    messages: list[str]
    customer_id: int | None = None


class ReportOut(Schema):
    filename: str
    valid: bool
    committed: bool
    rows: int
    ok: int
    errors: int
    created: int
    file_errors: list[str]
    ignored_columns: list[str]
    results: list[RowOut]


def _read(request: HttpRequest, file: UploadedFile) -> tuple[bytes, str]:
    if not services.can_import(request.user):
        raise PermissionDenied(str(services.ERR_NOT_ALLOWED))
    return file.read(), file.name or ""


@router.post("/customers/preview", response=ReportOut)
def preview_customers(request: HttpRequest, file: File[UploadedFile]) -> Any:
    """Check every row of a .csv/.xlsx file of customers without writing anything."""
    data, name = _read(request, file)
    return services.import_preview(actor=request.user, data=data, filename=name).as_dict()


@router.post("/customers", response={201: ReportOut, 400: ReportOut})
def import_customers(request: HttpRequest, file: File[UploadedFile]) -> Any:
    """Import a file of customers in one transaction: every row, or none (then 400 with the report)."""
    data, name = _read(request, file)
    report = services.import_commit(actor=request.user, data=data, filename=name)
    return Status(201 if report.committed else 400, report.as_dict())
