"""File imports over the API (/api/v1/integrations/imports/), for administrators.

The same services as the pages::

    POST /imports/                  multipart: file, system (code), entity, [template (id)], [mapping (JSON)]
    GET  /imports/                  list (filters: system, entity, status, q; keyset pagination)
    GET  /imports/{id}              status, counts, progress, check result, error report link
    PUT  /imports/{id}/mapping      {"mapping": {field: column}}
    POST /imports/{id}/preview      dry run of the first rows ({"all": true}: the whole file, in a job → 202)
    POST /imports/{id}/run          run it in the background → 202 with the job id
    POST /imports/{id}/again        run the same file again as a new import → 202
    GET  /imports/{id}/errors.csv   the row error report

Bad input answers 422 in the one error format, with one entry per field.
"""

# No ``from __future__ import annotations``: ninja resolves File[...] / Form[...] at import time.

import datetime as dt
import json
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest
from django.urls import reverse
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile

from steelyard.core.api.errors import VALIDATION_ERROR, ApiError, django_validation_fields
from steelyard.core.api.pagination import KeysetPagination, paginate
from steelyard.integrations.models import ExternalSystem, FileImport, FileImportStatus, ImportTemplate
from steelyard.integrations.selectors import imports as selectors
from steelyard.integrations.services import imports as services

router = Router(tags=["integrations"])

MSG_ADMINS_ONLY = "Only administrators may import files over the API."


# --- schemas -------------------------------------------------------------------------------------


class ProgressOut(Schema):
    phase: str
    done: int
    total: int | None
    percent: int
    message: str


class CountsOut(Schema):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0


class ProblemOut(Schema):
    row: int
    external_id: str
    field: str
    message: str
    values: dict[str, str] = {}


class PreviewOut(Schema):
    scope: str = Field(description="sample: the first rows only; all: the whole file")
    rows_checked: int
    records: int
    counts: CountsOut
    rejected_rows: int
    problems: list[ProblemOut]
    problems_total: int
    ignored_columns: list[str] = []


class FileImportOut(Schema):
    id: int
    system: str
    entity: str
    file_name: str
    file_format: str
    status: str
    header: list[str]
    mapping: dict[str, str]
    template_id: int | None
    rows: int
    counts: CountsOut
    preview: PreviewOut | None = None
    progress: ProgressOut | None = None
    stopped_reason: str = ""
    error: str = ""
    error_report_url: str | None = None
    job_id: str | None = None
    batch_id: int | None = None
    created_by: str | None = None
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None


class FileImportSummary(Schema):
    id: int
    system: str
    entity: str
    file_name: str
    status: str
    rows: int
    counts: CountsOut
    created_by: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None

    @staticmethod
    def resolve_system(obj: FileImport) -> str:
        return obj.system.code

    @staticmethod
    def resolve_file_name(obj: FileImport) -> str:
        return obj.original_name

    @staticmethod
    def resolve_rows(obj: FileImport) -> int:
        return obj.total

    @staticmethod
    def resolve_counts(obj: FileImport) -> dict[str, int]:
        if obj.status != FileImportStatus.DONE:
            return {}
        return {
            "created": obj.created,
            "updated": obj.updated,
            "unchanged": obj.unchanged,
            "rejected": obj.rejected,
        }

    @staticmethod
    def resolve_created_by(obj: FileImport) -> str | None:
        return obj.created_by.username if obj.created_by_id else None


class MappingIn(Schema):
    mapping: dict[str, str]
    template_id: int | None = None


class PreviewIn(Schema):
    all: bool = Field(False, description="check the whole file in a background job")


class JobAccepted(Schema):
    import_id: int
    job_id: str
    status: str
    status_url: str


class ImportFilters(Schema):
    system: int | None = None
    entity: str | None = None
    status: str | None = None
    q: str | None = None


# --- helpers -------------------------------------------------------------------------------------


def _admin(request: HttpRequest) -> None:
    if not services.is_admin(request.user):
        raise PermissionDenied(MSG_ADMINS_ONLY)


def _invalid(exc: ValidationError, prefix: str = "body") -> ApiError:
    message, fields = django_validation_fields(exc)
    fields = [{"field": f"{prefix}.{f['field']}", "message": f["message"]} for f in fields]
    return ApiError(422, VALIDATION_ERROR, message, fields)


def _get(request: HttpRequest, import_id: int) -> FileImport:
    fi = selectors.file_import_get(user=request.user, pk=import_id)
    if fi is None:
        raise Http404("No such import.")
    return fi


def file_import_out(fi: FileImport) -> dict[str, Any]:
    preview = fi.preview or {}
    running = fi.status in (FileImportStatus.QUEUED, FileImportStatus.RUNNING)
    liveness = services.file_import_liveness(fi) if running else services.Liveness("idle")
    progress = None
    if running:
        p = services.file_import_progress(fi)
        progress = {
            "phase": p.phase,
            "done": p.done,
            "total": p.total,
            "percent": p.percent,
            "message": p.message,
        }
    done = fi.status == FileImportStatus.DONE
    counts = (
        {"created": fi.created, "updated": fi.updated, "unchanged": fi.unchanged, "rejected": fi.rejected}
        if done
        else {}
    )
    return {
        "id": fi.pk,
        "system": fi.system.code,
        "entity": fi.entity,
        "file_name": fi.original_name,
        "file_format": fi.file_format,
        "status": fi.status,
        "header": [str(h) for h in preview.get("header", [])],
        "mapping": dict(fi.mapping or {}),
        "template_id": fi.template_id,
        "rows": fi.total,
        "counts": counts,
        "preview": preview if preview.get("counts") else None,
        "progress": progress,
        "stopped_reason": liveness.reason if liveness.stopped else "",
        "error": fi.error,
        "error_report_url": reverse("api:integrations_import_errors", args=[fi.pk])
        if fi.error_report
        else None,
        "job_id": str(fi.job_id) if fi.job_id else None,
        "batch_id": fi.batch_id,
        "created_by": fi.created_by.username if fi.created_by_id else None,
        "created_at": fi.created_at,
        "started_at": fi.started_at,
        "finished_at": fi.finished_at,
    }


def _accepted(fi: FileImport, job: Any) -> Any:
    fi.refresh_from_db()
    return Status(
        202,
        {
            "import_id": fi.pk,
            "job_id": str(job.pk),
            "status": fi.status,
            "status_url": reverse("api:integrations_import_detail", args=[fi.pk]),
        },
    )


# --- routes --------------------------------------------------------------------------------------


@router.get("/", response=list[FileImportSummary], summary="File imports")
@paginate(KeysetPagination, ordering=("-created_at", "-id"))
def import_list(request: HttpRequest, filters: Query[ImportFilters]) -> Any:
    """Newest first; administrators see every import."""
    _admin(request)
    return selectors.file_import_list(user=request.user, filters=filters.dict(exclude_none=True))


@router.post("/", response={201: FileImportOut}, summary="Upload a file to import")
def import_upload(
    request: HttpRequest,
    file: File[UploadedFile],
    system: Form[str],
    entity: Form[str],
    template: Form[int | None] = None,
    mapping: Form[str | None] = None,
) -> Any:
    """Store the file and match its columns (or apply ``template``, or the JSON ``mapping`` given)."""
    _admin(request)
    sys_obj = ExternalSystem.objects.filter(code=system).first()
    if sys_obj is None:
        raise ApiError(
            422, VALIDATION_ERROR, "Unknown system.", [{"field": "form.system", "message": "Unknown system."}]
        )
    tpl = None
    if template:
        tpl = ImportTemplate.objects.filter(pk=template).first()
        if tpl is None:
            raise ApiError(
                422,
                VALIDATION_ERROR,
                "Unknown template.",
                [{"field": "form.template", "message": "Unknown template."}],
            )
    wanted = None
    if mapping:
        try:
            wanted = json.loads(mapping)
            if not isinstance(wanted, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            raise ApiError(
                422,
                VALIDATION_ERROR,
                "The mapping is not a JSON object.",
                [{"field": "form.mapping", "message": "Give a JSON object {field: column}."}],
            ) from exc
    try:
        fi = services.file_import_upload(
            actor=request.user, system=sys_obj, entity=entity, upload=file, filename=file.name, template=tpl
        )
        if wanted is not None:
            services.file_import_set_mapping(actor=request.user, file_import=fi, mapping=wanted, template=tpl)
    except ValidationError as exc:
        raise _invalid(exc, "form") from exc
    fi = selectors.file_import_get(user=request.user, pk=fi.pk)
    return Status(201, file_import_out(fi))


@router.get(
    "/{int:import_id}", response=FileImportOut, url_name="integrations_import_detail", summary="A file import"
)
def import_detail(request: HttpRequest, import_id: int) -> Any:
    _admin(request)
    return file_import_out(_get(request, import_id))


@router.put("/{int:import_id}/mapping", response=FileImportOut, summary="Set the column mapping")
def import_mapping(request: HttpRequest, import_id: int, body: MappingIn) -> Any:
    _admin(request)
    fi = _get(request, import_id)
    tpl = None
    if body.template_id:
        tpl = ImportTemplate.objects.filter(pk=body.template_id).first()
    try:
        services.file_import_set_mapping(
            actor=request.user, file_import=fi, mapping=body.mapping, template=tpl
        )
    except ValidationError as exc:
        raise _invalid(exc, "body.mapping") from exc
    return file_import_out(_get(request, import_id))


@router.post(
    "/{int:import_id}/preview",
    response={200: FileImportOut, 202: JobAccepted},
    summary="Check without writing",
)
def import_preview(request: HttpRequest, import_id: int, body: PreviewIn | None = None) -> Any:
    """A dry run through the engine: the first rows now, or (``all``) the whole file in a job."""
    _admin(request)
    fi = _get(request, import_id)
    try:
        if body is not None and body.all:
            job = services.file_import_check_all(actor=request.user, file_import=fi)
            return _accepted(fi, job)
        services.file_import_preview(actor=request.user, file_import=fi)
    except ValidationError as exc:
        raise _invalid(exc) from exc
    return Status(200, file_import_out(_get(request, import_id)))


@router.post("/{int:import_id}/run", response={202: JobAccepted}, summary="Run the import")
def import_run(request: HttpRequest, import_id: int) -> Any:
    _admin(request)
    fi = _get(request, import_id)
    try:
        job = services.file_import_run(actor=request.user, file_import=fi)
    except ValidationError as exc:
        raise _invalid(exc) from exc
    return _accepted(fi, job)


@router.post("/{int:import_id}/again", response={202: JobAccepted}, summary="Run the same file again")
def import_again(request: HttpRequest, import_id: int) -> Any:
    _admin(request)
    fi = _get(request, import_id)
    try:
        again = services.file_import_rerun(actor=request.user, file_import=fi)
    except ValidationError as exc:
        raise _invalid(exc) from exc
    return _accepted(again, again.job)


@router.get(
    "/{int:import_id}/errors.csv", url_name="integrations_import_errors", summary="The row error report (CSV)"
)
def import_errors(request: HttpRequest, import_id: int) -> Any:
    _admin(request)
    fi = _get(request, import_id)
    if not fi.error_report or not default_storage.exists(fi.error_report.name):
        raise Http404("No error report.")
    return FileResponse(
        default_storage.open(fi.error_report.name, "rb"),
        as_attachment=True,
        filename=f"import-{fi.pk}-errors.csv",
        content_type="text/csv; charset=utf-8",
    )
