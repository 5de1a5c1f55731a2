"""File imports for integration entities: upload a CSV or xlsx, map its columns, check it, run it.

One :class:`~steelyard.integrations.models.FileImport` is one file for one system and one entity
(``customer``, ``order``, ``product``… — whatever the inbound engine accepts). The steps:

1. **Upload** (:func:`file_import_upload`): the file is stored, its header row read and the columns
   matched to the entity's fields by name or by label (Chinese or English) — :func:`auto_mapping`.
2. **Mapping** (:func:`file_import_set_mapping`): the uploader corrects the matching; a mapping can be
   saved as a named :class:`~steelyard.integrations.models.ImportTemplate` and applied to later files.
3. **Check** (:func:`file_import_preview`): a dry run through the inbound engine
   (``batch_apply(dry_run=True)``) — nothing is written. In the request it checks the first
   :data:`PREVIEW_ROWS` rows; :func:`file_import_check_all` checks the whole file in a background job.
4. **Run** (:func:`file_import_run`): a background job reads the whole file, then applies it through
   ``batch_apply(via="file", keep="rejected")`` inside ONE ``transaction.atomic()``. Rejected rows do
   not stop the valid ones (as for API batches); they go into a downloadable CSV error report. A run that
   fails or is killed leaves nothing behind and can be run again (:func:`file_import_rerun`).

Files are read as streams: CSV through ``csv.reader`` (UTF-8 with or without BOM, else GB18030, a
superset of GBK), xlsx through openpyxl in read-only mode, one row at a time.

**Progress while the transaction is open.** Whatever a transaction writes stays invisible to others
until it commits, and on SQLite nobody else may write at all meanwhile. So a run reports its progress
outside it: to a small JSON file beside the uploads (``integrations/progress/<id>.json``, also the
run's heartbeat) and, on PostgreSQL, to the job row through a second, autocommit connection.
:func:`file_import_progress` reads it back; :func:`file_import_liveness` tells a live run from a dead one.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import decimal
import io
import json
import logging
import os
import re
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import override

from steelyard.core.access import ADMINISTRATOR, user_has_role
from steelyard.core.models import AuditAction, Job, JobStatus
from steelyard.core.services.audit import audit_record
from steelyard.integrations.models import (
    ExternalSystem,
    FileImport,
    FileImportStatus,
    ImportTemplate,
)
from steelyard.org.roles import FINANCE

if TYPE_CHECKING:
    from steelyard.org.models import User

logger = logging.getLogger(__name__)

#: Who may import files: administrators, and finance (who reconciles the ERP's orders, invoices and
#: payments). Machine users (role ``integration``) never use these pages; they post to the API.
IMPORT_ROLES = (ADMINISTRATOR, FINANCE)
FORMATS = ("csv", "xlsx")
MAX_BYTES = int(getattr(settings, "INTEGRATIONS_IMPORT_MAX_MB", 100)) * 1024 * 1024
#: The check in the request reads this many data rows; bigger files get a "check the whole file" job.
PREVIEW_ROWS = 2_000
#: How many rejected rows the check keeps to show on the page (the report has them all).
PREVIEW_PROBLEMS = 50
#: A run whose heartbeat is older than this is shown as stalled and may be run again.
STALE_AFTER = dt.timedelta(minutes=int(getattr(settings, "INTEGRATIONS_IMPORT_STALE_MINUTES", 15)))
#: A queued run nobody picked up for this long is shown as stuck.
STALE_QUEUE_AFTER = dt.timedelta(minutes=10)
PROGRESS_DIR = "integrations/progress"
PROGRESS_MIN_INTERVAL = 0.5  # seconds between progress writes

AUDIT_UPLOAD = "integrations.import_uploaded"
AUDIT_MAPPING = "integrations.import_mapped"
AUDIT_RUN = "integrations.import_run"
AUDIT_RERUN = "integrations.import_rerun"
AUDIT_DONE = "integrations.import_done"
AUDIT_FAILED = "integrations.import_failed"
AUDIT_STOPPED = "integrations.import_stopped"
AUDIT_TEMPLATE_SAVED = "integrations.import_template_saved"
AUDIT_TEMPLATE_DELETED = "integrations.import_template_deleted"

PHASE_READING = "reading"
PHASE_CHECKING = "checking"
PHASE_IMPORTING = "importing"
PHASE_REPORT = "report"

ERR_NOT_ALLOWED = _("Only administrators and finance may import files.")
ERR_NOT_YOURS = _("Only the person who uploaded this file, or an administrator, may do this.")
ERR_FILE_TYPE = _("Upload a .csv or .xlsx file.")
ERR_FILE_BYTES = _("The file is too large: at most %(mb)s MB per import.")
ERR_FILE_EMPTY = _("The file is empty: its first row must name the columns.")
ERR_FILE_NO_ROWS = _("The file has a header row but no data rows.")
ERR_FILE_UNREADABLE = _("The file could not be read: %(error)s")
ERR_FILE_GONE = _("The uploaded file is no longer there. Upload it again.")
ERR_UNKNOWN_ENTITY = _("Unknown kind of record: %(entity)s.")
ERR_NO_FILE_IMPORT = _("Records of this kind cannot be imported from a file.")
ERR_SYSTEM_INACTIVE = _("This system is inactive.")
ERR_SYSTEM_ENTITY = _("%(system)s may not send %(entity)s. An administrator can allow it on the system.")
ERR_REQUIRED_UNMAPPED = _("Choose the column for the required field “%(field)s”.")
ERR_UNKNOWN_COLUMN = _("The file has no column “%(column)s”.")
ERR_UNKNOWN_FIELD = _("Unknown field “%(field)s”.")
ERR_NOTHING_MAPPED = _("Choose at least one column to import.")
ERR_BUSY = _("This import is running; wait until it has finished.")
ERR_ALREADY_RUN = _("This file has already been imported. Use “Run again” to import it once more.")
ERR_NOT_RUN_YET = _("This import has not been run yet.")
ERR_STILL_ALIVE = _("This import is still running. It can be run again only once it has stopped.")
ERR_TEMPLATE_NAME_TAKEN = _("Another template for this kind of record already has this name.")
ERR_TEMPLATE_ENTITY = _("This template is for another kind of record.")
ERR_TEMPLATE_SYSTEM = _("This template belongs to another system.")
ERR_TEMPLATE_NOT_YOURS = _("Only the person who saved this template, or an administrator, may change it.")
ERR_ROW_UNREADABLE = _("The row could not be read.")
ERR_RUN_FAILED = _("The import failed and nothing was written: %(error)s")
MSG_STOPPED = _("Stopped: %(reason)s Nothing of this run was written.")
MSG_REJECTED_WITH_RECORD = _("Not imported: another row of the same record was rejected (row %(rows)s).")
REASON_JOB_ENDED = _("The background job ended without finishing the import.")
REASON_JOB_GONE = _("The background job of this import no longer exists.")
REASON_PROCESS_GONE = _("The process that ran this import is gone.")
REASON_NO_HEARTBEAT = _("No sign of progress for %(minutes)s minutes.")
REASON_NOT_PICKED = _("No worker has picked this import up for %(minutes)s minutes.")

_HEADER_JUNK = re.compile(r"[\s*＊_:：()（）\-.·/\\]+")


# --- who may do what ------------------------------------------------------------------------


def can_import(user: Any) -> bool:
    """Administrators and finance may import files (machine users never hold these roles)."""
    return user_has_role(user, *IMPORT_ROLES) and not getattr(user, "is_machine", False)


def is_admin(user: Any) -> bool:
    return user_has_role(user, ADMINISTRATOR)


def _require_importer(user: Any) -> None:
    if not can_import(user):
        raise PermissionDenied(str(ERR_NOT_ALLOWED))


def _require_owner(user: Any, file_import: FileImport) -> None:
    _require_importer(user)
    if not is_admin(user) and file_import.created_by_id != user.pk:
        raise PermissionDenied(str(ERR_NOT_YOURS))


# --- the engine's entities and fields --------------------------------------------------------


def _inbound() -> Any:
    from steelyard.integrations.services import inbound

    return inbound


@dataclass(frozen=True)
class FieldSpec:
    """One field a file column can fill (the engine's ``FieldInfo``, normalised)."""

    name: str
    label: Any
    required: bool = False
    example: str = ""
    kind: str = ""
    help: Any = ""


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def entity_label(entity: str) -> Any:
    from steelyard.integrations.services.systems import entity_label as label

    return label(entity)


def importable_entities() -> list[str]:
    """The engine's entities that a file can fill (those with a field catalogue)."""
    inbound = _inbound()
    out = []
    for entity in getattr(inbound, "ENTITIES", ()):
        try:
            if inbound.field_catalogue(entity):
                out.append(entity)
        except (KeyError, ValueError, NotImplementedError):
            continue
    return out


def entity_choices() -> list[tuple[str, Any]]:
    return [(e, entity_label(e)) for e in importable_entities()]


def fields_for(entity: str) -> list[FieldSpec]:
    """The flat fields of ``entity`` a file row can fill, in the engine's order."""
    inbound = _inbound()
    if entity not in getattr(inbound, "ENTITIES", ()):
        raise ValidationError({"entity": [ERR_UNKNOWN_ENTITY % {"entity": entity}]})
    specs = []
    for info in inbound.field_catalogue(entity):
        example = _get(info, "example", "")
        specs.append(
            FieldSpec(
                name=str(_get(info, "name")),
                label=_get(info, "label") or _get(info, "name"),
                required=bool(_get(info, "required", False)),
                example="" if example is None else str(example),
                kind=str(_get(info, "kind", "") or ""),
                help=_get(info, "help", "") or "",
            )
        )
    if not specs:
        raise ValidationError({"entity": [ERR_NO_FILE_IMPORT]})
    return specs


# --- reading files ---------------------------------------------------------------------------


def file_format_of(filename: str) -> str:
    name = (filename or "").lower()
    if name.endswith(".xlsx"):
        return "xlsx"
    if name.endswith((".csv", ".txt")):
        return "csv"
    return ""


def sniff_encoding(fh: IO[bytes], chunk: int = 1 << 20) -> str:
    """``utf-8-sig`` for a BOM, ``utf-8`` when the whole file decodes, else ``gb18030`` (⊃ GBK).

    The whole file is checked (in C, a chunk at a time): a GBK file often starts with plain ASCII
    headers and only fails on its first Chinese cell far down.
    """
    fh.seek(0)
    head = fh.read(3)
    if head == codecs.BOM_UTF8:
        fh.seek(0)
        return "utf-8-sig"
    fh.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while True:
            block = fh.read(chunk)
            if not block:
                decoder.decode(b"", final=True)
                break
            decoder.decode(block)
    except UnicodeDecodeError:
        return "gb18030"
    finally:
        fh.seek(0)
    return "utf-8"


def _sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def cell_text(value: Any) -> str:
    """A spreadsheet cell as the text a person would read in it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        # Excel shows 15 significant digits; 0.1+0.2 is 0.3 there, and should be here.
        return format(decimal.Decimal(format(value, ".15g")), "f")
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value).strip()


@dataclass
class Table:
    """An open file: its header row and a stream of ``(row number, cells)`` (header is row 1)."""

    header: list[str]
    rows: Iterator[tuple[int, list[str]]]
    estimated_rows: int | None = None


def _csv_table(fh: IO[bytes]) -> Table:
    encoding = sniff_encoding(fh)
    text = io.TextIOWrapper(fh, encoding=encoding, newline="")
    first = text.readline()
    text.seek(0)
    reader = csv.reader(text, delimiter=_sniff_delimiter(first))
    header: list[str] | None = None
    for raw in reader:
        header = [c.strip() for c in raw]
        break
    if header is None:
        header = []

    def numbered() -> Iterator[tuple[int, list[str]]]:
        number = 1
        for raw in reader:
            number += 1
            cells = [c.strip() for c in raw]
            if any(cells):
                yield number, cells

    return Table(header=header, rows=numbered())


def _xlsx_table(fh: IO[bytes], stack: contextlib.ExitStack) -> Table:
    from openpyxl import load_workbook

    wb = load_workbook(fh, read_only=True, data_only=True)
    stack.callback(wb.close)
    ws = wb.worksheets[0]
    it = ws.iter_rows(values_only=True)
    header: list[str] = []
    for raw in it:
        header = [cell_text(v) for v in raw]
        break
    while header and not header[-1]:
        header.pop()
    estimated = None
    with contextlib.suppress(Exception):  # the dimension tag is optional in xlsx files
        estimated = max(0, int(ws.max_row or 0) - 1) or None

    def numbered() -> Iterator[tuple[int, list[str]]]:
        number = 1
        for raw in it:
            number += 1
            cells = [cell_text(v) for v in raw]
            if any(cells):
                yield number, cells

    return Table(header=header, rows=numbered(), estimated_rows=estimated)


@contextlib.contextmanager
def open_table(name: str, file_format: str, storage: Any = None) -> Iterator[Table]:
    """Open a stored file as a :class:`Table`; the rows are read lazily, one at a time."""
    storage = storage or default_storage
    with contextlib.ExitStack() as stack:
        try:
            stored = stack.enter_context(storage.open(name, "rb"))
        except (FileNotFoundError, OSError) as exc:
            raise ValidationError(ERR_FILE_GONE, code="gone") from exc
        fh = getattr(stored, "file", stored)
        try:
            if file_format == "xlsx":
                table = _xlsx_table(fh, stack)
            elif file_format == "csv":
                table = _csv_table(fh)
            else:
                raise ValidationError(ERR_FILE_TYPE, code="type")
        except ValidationError:
            raise
        except Exception as exc:  # a corrupt xlsx, a broken zip: a file error, not a 500
            raise ValidationError(
                ERR_FILE_UNREADABLE, code="unreadable", params={"error": str(exc)[:200]}
            ) from exc
        yield _guarded(table)


def _guarded(table: Table) -> Table:
    """Turn read errors in the middle of the file into ValidationErrors naming the row."""

    def rows() -> Iterator[tuple[int, list[str]]]:
        last = 1
        try:
            for number, cells in table.rows:
                last = number
                yield number, cells
        except csv.Error as exc:
            raise ValidationError(
                ERR_FILE_UNREADABLE, code="unreadable", params={"error": f"row {last + 1}: {exc}"}
            ) from exc
        except UnicodeDecodeError as exc:
            raise ValidationError(
                ERR_FILE_UNREADABLE, code="unreadable", params={"error": f"row {last + 1}: {exc}"}
            ) from exc

    return Table(header=table.header, rows=rows(), estimated_rows=table.estimated_rows)


def _open(file_import: FileImport) -> contextlib.AbstractContextManager[Table]:
    return open_table(file_import.file.name, file_import.file_format)


# --- mapping columns to fields --------------------------------------------------------------


def header_key(text: Any) -> str:
    """A header compared loosely: no spaces, underscores, brackets or stars, lower case."""
    return _HEADER_JUNK.sub("", str(text or "")).lower()


def _labels(spec: FieldSpec) -> list[str]:
    names = []
    for lang in ("zh-hans", "en"):
        with override(lang):
            names.append(str(spec.label))
    return names


def auto_mapping(entity: str, header: Iterable[str]) -> dict[str, str]:
    """``{field: column header}`` for every column whose header is a field's name or label.

    A field's own name wins over a label; each field takes the first column that matches it, and
    each column fills at most one field.
    """
    specs = fields_for(entity)
    columns = [h for h in header if h]
    by_key: dict[str, str] = {}
    for col in columns:
        by_key.setdefault(header_key(col), col)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for spec in specs:  # exact field names first
        col = by_key.get(header_key(spec.name))
        if col is not None and col not in used:
            mapping[spec.name] = col
            used.add(col)
    for spec in specs:
        if spec.name in mapping:
            continue
        for label in _labels(spec):
            col = by_key.get(header_key(label))
            if col is not None and col not in used:
                mapping[spec.name] = col
                used.add(col)
                break
    return {s.name: mapping[s.name] for s in specs if s.name in mapping}


def check_mapping(entity: str, header: list[str], mapping: dict[str, str]) -> dict[str, list[str]]:
    """Problems with ``mapping`` for a file with ``header``, as ``{field: [messages]}`` ("" for general)."""
    specs = {s.name: s for s in fields_for(entity)}
    present = {h for h in header if h}
    errors: dict[str, list[str]] = {}
    for name, column in mapping.items():
        if name not in specs:
            errors.setdefault(name, []).append(str(ERR_UNKNOWN_FIELD % {"field": name}))
        elif column and column not in present:
            errors.setdefault(name, []).append(str(ERR_UNKNOWN_COLUMN % {"column": column}))
    for spec in specs.values():
        if spec.required and not mapping.get(spec.name):
            errors.setdefault(spec.name, []).append(str(ERR_REQUIRED_UNMAPPED % {"field": spec.label}))
    if not any(mapping.values()):
        errors.setdefault("", []).append(str(ERR_NOTHING_MAPPED))
    return errors


def _clean_mapping(mapping: dict[str, Any] | None) -> dict[str, str]:
    return {str(k): str(v).strip() for k, v in (mapping or {}).items() if v and str(v).strip()}


def _column_index(header: list[str], mapping: dict[str, str]) -> list[tuple[str, int]]:
    first: dict[str, int] = {}
    for i, h in enumerate(header):
        if h:
            first.setdefault(h, i)
    return [(name, first[col]) for name, col in mapping.items() if col in first]


def mapped_rows(
    header: list[str], mapping: dict[str, str], rows: Iterable[tuple[int, list[str]]]
) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows as ``(row number, {field: text})`` through ``mapping`` (missing cells are empty)."""
    index = _column_index(header, mapping)
    for number, cells in rows:
        width = len(cells)
        yield number, {name: cells[i] if i < width else "" for name, i in index}


def template_mapping(template: ImportTemplate, header: list[str]) -> dict[str, str]:
    """The template's mapping, keeping only the columns this file has (compared loosely)."""
    by_key: dict[str, str] = {}
    for h in header:
        if h:
            by_key.setdefault(header_key(h), h)
    out: dict[str, str] = {}
    for name, column in (template.mapping or {}).items():
        col = by_key.get(header_key(column))
        if col:
            out[str(name)] = col
    return out


# --- blank template files ------------------------------------------------------------------


def template_headers(entity: str) -> list[str]:
    """The header row of the blank template, in the active language (labels; names where labels clash)."""
    seen: set[str] = set()
    headers = []
    for spec in fields_for(entity):
        label = str(spec.label).strip() or spec.name
        if header_key(label) in seen:
            label = spec.name
        seen.add(header_key(label))
        headers.append(label)
    return headers


def blank_template_csv(entity: str) -> bytes:
    """A CSV with only the header row (UTF-8 with BOM, so Excel shows the Chinese right)."""
    out = io.StringIO()
    csv.writer(out).writerow(template_headers(entity))
    return out.getvalue().encode("utf-8-sig")


def blank_template_xlsx(entity: str) -> bytes:
    """An xlsx: sheet 1 has the header row to fill; sheet 2 explains every column with an example."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    specs = fields_for(entity)
    headers = template_headers(entity)
    wb = Workbook()
    ws = wb.active
    ws.title = str(entity_label(entity))[:31]
    ws.append(headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for i, spec in enumerate(specs, start=1):
        ws.cell(row=1, column=i).font = Font(bold=True, color="C00000" if spec.required else None)
    ws.freeze_panes = "A2"
    notes = wb.create_sheet(str(_("Columns"))[:31])
    notes.append([str(_("Column")), str(_("Field")), str(_("Required")), str(_("Kind")), str(_("Example"))])
    for cell in notes[1]:
        cell.font = Font(bold=True)
    for header, spec in zip(headers, specs, strict=True):
        notes.append([header, spec.name, str(_("yes")) if spec.required else "", spec.kind, spec.example])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --- uploading and mapping -------------------------------------------------------------------


def _check_system_entity(system: ExternalSystem, entity: str) -> None:
    fields_for(entity)  # unknown entity / nothing to import → ValidationError
    if not system.is_active:
        raise ValidationError({"system": [ERR_SYSTEM_INACTIVE]})
    allowed = list(system.entities or [])
    if allowed and entity not in allowed:
        raise ValidationError(
            {"entity": [ERR_SYSTEM_ENTITY % {"system": system.name, "entity": entity_label(entity)}]}
        )


def _read_header(name: str, file_format: str) -> tuple[list[str], int | None, bool]:
    """The header, the number of data rows (exact for CSV, estimated for xlsx) and whether it is exact."""
    with open_table(name, file_format) as table:
        header = table.header
        if not any(header):
            raise ValidationError(ERR_FILE_EMPTY, code="empty")
        if file_format == "csv":
            count = sum(1 for _row in table.rows)
            return header, count, True
        first = next(table.rows, None)
        if first is None:
            return header, 0, True
        return header, table.estimated_rows, False


def file_import_upload(
    *,
    actor: User,
    system: ExternalSystem,
    entity: str,
    upload: Any,
    filename: str | None = None,
    template: ImportTemplate | None = None,
) -> FileImport:
    """Store an uploaded file for ``system`` and ``entity`` and match its columns (audited).

    ``upload`` is an uploaded file (or any file object); the mapping comes from ``template`` when
    given, else from the headers. Raises ValidationError for a wrong type, an empty or unreadable
    file, an inactive system or an entity the system may not send.
    """
    _require_importer(actor)
    filename = str(filename or getattr(upload, "name", "") or "upload")
    fmt = file_format_of(filename)
    if not fmt:
        raise ValidationError({"file": [ERR_FILE_TYPE]})
    size = getattr(upload, "size", None)
    if size is not None and size > MAX_BYTES:
        raise ValidationError({"file": [ERR_FILE_BYTES % {"mb": MAX_BYTES // (1024 * 1024)}]})
    _check_system_entity(system, entity)
    if template is not None:
        _check_template_fits(template, system=system, entity=entity)
    fi = FileImport(
        system=system,
        entity=entity,
        template=template,
        original_name=Path(filename).name[:200],
        file_format=fmt,
        created_by=actor,
    )
    fi.file.save(
        f"{uuid.uuid4().hex}.{fmt}", upload if isinstance(upload, File) else File(upload), save=False
    )
    try:
        header, count, exact = _read_header(fi.file.name, fmt)
        if count == 0:
            raise ValidationError(ERR_FILE_NO_ROWS, code="no_rows")
    except ValidationError as exc:
        default_storage.delete(fi.file.name)
        raise ValidationError({"file": exc.messages}) from exc
    fi.mapping = template_mapping(template, header) if template else auto_mapping(entity, header)
    fi.total = count or 0
    fi.preview = {"header": header, "rows_exact": exact, "version_at": timezone.now().isoformat()}
    with transaction.atomic():
        fi.save()
        audit_record(
            actor=actor,
            action=AuditAction.ACTION,
            obj=fi,
            verb=AUDIT_UPLOAD,
            object_repr=fi.original_name,
            extra={
                "system": system.code,
                "entity": entity,
                "file": fi.original_name,
                "format": fmt,
                "rows": fi.total,
                "template": template.name if template else None,
            },
        )
    return fi


def file_import_header(file_import: FileImport) -> list[str]:
    """The file's header row (kept at upload; read again if missing)."""
    header = (file_import.preview or {}).get("header")
    if isinstance(header, list):
        return [str(h) for h in header]
    header, _count, _exact = _read_header(file_import.file.name, file_import.file_format)
    return header


def _editable(file_import: FileImport) -> None:
    if file_import.status in (FileImportStatus.QUEUED, FileImportStatus.RUNNING):
        raise ValidationError(ERR_BUSY, code="busy")
    if file_import.status in (FileImportStatus.DONE, FileImportStatus.FAILED):
        raise ValidationError(ERR_ALREADY_RUN, code="already_run")


def file_import_set_mapping(
    *,
    actor: User,
    file_import: FileImport,
    mapping: dict[str, Any],
    template: ImportTemplate | None = None,
) -> FileImport:
    """Set which column fills which field; the earlier check is dropped (the file must be checked again)."""
    _require_owner(actor, file_import)
    _editable(file_import)
    header = file_import_header(file_import)
    clean = _clean_mapping(mapping)
    errors = check_mapping(file_import.entity, header, clean)
    if errors:
        raise ValidationError({k or "__all__": v for k, v in errors.items()})
    if template is not None:
        _check_template_fits(template, system=file_import.system, entity=file_import.entity)
    before = dict(file_import.mapping or {})
    with transaction.atomic():
        file_import.mapping = clean
        file_import.template = template
        file_import.status = FileImportStatus.UPLOADED
        file_import.preview = _keep_file_facts(file_import.preview)
        file_import.save(update_fields=["mapping", "template", "status", "preview"])
        if before != clean:
            audit_record(
                actor=actor,
                action=AuditAction.UPDATE,
                obj=file_import,
                verb=AUDIT_MAPPING,
                object_repr=file_import.original_name,
                changes={"mapping": [before, clean]},
            )
    return file_import


def _keep_file_facts(preview: dict[str, Any] | None) -> dict[str, Any]:
    preview = preview or {}
    return {k: preview[k] for k in ("header", "rows_exact", "version_at") if k in preview}


# --- templates -------------------------------------------------------------------------------


def _check_template_fits(template: ImportTemplate, *, system: ExternalSystem, entity: str) -> None:
    if template.entity != entity:
        raise ValidationError({"template": [ERR_TEMPLATE_ENTITY]})
    if template.system_id and template.system_id != system.pk:
        raise ValidationError({"template": [ERR_TEMPLATE_SYSTEM]})


def import_template_save(
    *,
    actor: User,
    entity: str,
    name: str,
    mapping: dict[str, Any],
    system: ExternalSystem | None = None,
) -> ImportTemplate:
    """Save a named mapping for ``entity`` (for one system, or any); same name → overwrite (audited).

    Overwriting someone else's template is for administrators.
    """
    _require_importer(actor)
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": [_("Give the template a name.")]})
    specs = {s.name for s in fields_for(entity)}
    clean = {k: v for k, v in _clean_mapping(mapping).items() if k in specs}
    if not clean:
        raise ValidationError({"mapping": [ERR_NOTHING_MAPPED]})
    with transaction.atomic():
        existing = ImportTemplate.objects.select_for_update().filter(entity=entity, name=name).first()
        if existing is not None:
            if not is_admin(actor) and existing.created_by_id != actor.pk:
                raise ValidationError({"name": [ERR_TEMPLATE_NAME_TAKEN]})
            before = {"mapping": existing.mapping, "system": existing.system_id}
            existing.mapping = clean
            existing.system = system
            existing.save(update_fields=["mapping", "system", "updated_at"])
            template = existing
            changes = {
                "mapping": [before["mapping"], clean],
                "system": [before["system"], template.system_id],
            }
            action = AuditAction.UPDATE
        else:
            template = ImportTemplate.objects.create(
                entity=entity, name=name, system=system, mapping=clean, created_by=actor
            )
            changes = {"mapping": [None, clean], "system": [None, template.system_id]}
            action = AuditAction.CREATE
        audit_record(
            actor=actor,
            action=action,
            obj=template,
            verb=AUDIT_TEMPLATE_SAVED,
            object_repr=f"{entity}: {name}"[:200],
            changes=changes,
        )
    return template


@transaction.atomic
def import_template_delete(*, actor: User, template: ImportTemplate) -> None:
    """Delete a saved mapping (its creator or an administrator); imports that used it keep their mapping."""
    _require_importer(actor)
    if not is_admin(actor) and template.created_by_id != actor.pk:
        raise PermissionDenied(str(ERR_TEMPLATE_NOT_YOURS))
    audit_record(
        actor=actor,
        action=AuditAction.DELETE,
        obj=template,
        verb=AUDIT_TEMPLATE_DELETED,
        object_repr=f"{template.entity}: {template.name}"[:200],
        changes={"mapping": [template.mapping, None]},
    )
    template.delete()


# --- progress outside the transaction ---------------------------------------------------------


def _progress_path(file_import_id: int, kind: str = "run") -> str | None:
    """The local path of the progress file, or None when the storage is not a local disk."""
    suffix = "" if kind == "run" else f"-{kind}"
    try:
        return default_storage.path(f"{PROGRESS_DIR}/{int(file_import_id)}{suffix}.json")
    except NotImplementedError:
        return None


def read_progress_file(file_import_id: int, kind: str = "run") -> dict[str, Any] | None:
    path = _progress_path(file_import_id, kind)
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _remove_progress_file(file_import_id: int, kind: str = "run") -> None:
    path = _progress_path(file_import_id, kind)
    if path:
        with contextlib.suppress(OSError):
            os.remove(path)


class LiveProgress:
    """Writes a run's progress where others can read it while its transaction is still open.

    - a JSON file ``integrations/progress/<id>.json`` in the media storage (when it is a local disk,
      which the worker and the web server share anyway: the worker reads the uploaded file from it),
      holding done/total/phase, the time (the run's heartbeat), the host and the process id;
    - on PostgreSQL, the job row, through a second connection in autocommit. (On SQLite another
      connection cannot write while the import's transaction holds the write lock.)

    Writes are throttled like the core job tracker's: at most every 0.5 s unless a percent passed.
    """

    def __init__(self, file_import_id: int, job_id: Any = None, kind: str = "run") -> None:
        self.file_import_id = file_import_id
        self.job_id = job_id
        self.kind = kind
        self.path = _progress_path(file_import_id, kind)
        self.phase = ""
        self.done = 0
        self.total: int | None = None
        self.message = ""
        self._last_at = -1e9
        self._last_percent = -1
        self._conn: Any = None
        self._conn_failed = False
        if self.path:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)

    def set_phase(self, phase: str, total: int | None, message: str = "") -> None:
        self.phase, self.total, self.done, self.message = phase, total, 0, message
        self.write(force=True)

    def report(self, done: int, total: int | None = None, message: str | None = None) -> None:
        self.done = max(0, int(done))
        if total is not None:
            self.total = max(0, int(total))
        if message is not None:
            self.message = message
        self.write()

    def write(self, *, force: bool = False) -> None:
        now = time.monotonic()
        percent = self.done * 100 // self.total if self.total else -1
        if not force and now - self._last_at < PROGRESS_MIN_INTERVAL and percent <= self._last_percent:
            return
        self._last_at, self._last_percent = now, percent
        self._write_file()
        self._write_job()

    def _write_file(self) -> None:
        if not self.path:
            return
        data = {
            "phase": self.phase,
            "done": self.done,
            "total": self.total,
            "message": self.message,
            "at": timezone.now().isoformat(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "job": str(self.job_id) if self.job_id else None,
        }
        tmp = f"{self.path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
            os.replace(tmp, self.path)
        except OSError:  # progress is best effort; the import itself must not fail for it
            logger.warning("could not write import progress to %s", self.path, exc_info=True)

    def _write_job(self) -> None:
        if not self.job_id or self._conn_failed or connection.vendor != "postgresql":
            return
        try:
            if self._conn is None:
                self._conn = connections.create_connection(DEFAULT_DB_ALIAS)
                self._conn.ensure_connection()
                with self._conn.cursor() as cursor:
                    cursor.execute("SET statement_timeout = 2000")
            pk = Job._meta.pk.get_db_prep_value(self.job_id, self._conn)
            with self._conn.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {Job._meta.db_table} SET progress_done = %s, progress_total = %s, message = %s "  # noqa: S608
                    "WHERE id = %s",
                    [self.done, self.total, str(self.message)[:300], pk],
                )
        except Exception:  # a second connection refused, a timeout: keep importing without it
            logger.warning("could not write import progress to the job row", exc_info=True)
            self._conn_failed = True

    def close(self, *, keep_file: bool = False) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
        if not keep_file:
            _remove_progress_file(self.file_import_id, self.kind)


@dataclass
class Progress:
    """What the import page shows: how far a run (or a whole-file check) got."""

    phase: str = ""
    done: int = 0
    total: int | None = None
    message: str = ""
    at: dt.datetime | None = None

    @property
    def percent(self) -> int:
        if not self.total:
            return 0
        return min(100, self.done * 100 // self.total)


def file_import_progress(file_import: FileImport, job: Job | None = None, kind: str = "run") -> Progress:
    """The latest progress of the file import's run (or whole-file check): its progress file, else the job row."""
    data = read_progress_file(file_import.pk, kind)
    if data:
        at = None
        with contextlib.suppress(TypeError, ValueError):
            at = dt.datetime.fromisoformat(str(data.get("at")))
        return Progress(
            phase=str(data.get("phase") or ""),
            done=int(data.get("done") or 0),
            total=int(data["total"]) if data.get("total") is not None else None,
            message=str(data.get("message") or ""),
            at=at,
        )
    job = job if job is not None else file_import.job
    if job is None:
        return Progress()
    return Progress(done=job.progress_done, total=job.progress_total, message=job.message)


@dataclass
class Liveness:
    """Whether a queued or running import is really alive, and if not, why (shown as is)."""

    state: str  # "idle" (not queued/running), "alive", "dead" or "stale"
    reason: str = ""

    @property
    def stopped(self) -> bool:
        return self.state in ("dead", "stale")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return True
    return True


def _worker_pid(worker_id: str) -> tuple[str, int] | None:
    host, _sep, pid = (worker_id or "").rpartition(".")
    if not host or not pid.isdigit():
        return None
    return host, int(pid)


def file_import_liveness(file_import: FileImport, *, now: dt.datetime | None = None) -> Liveness:
    """Is a queued/running import alive? Dead when its job ended or its process on this host is gone;
    stale when nothing moved for :data:`STALE_AFTER` (or nobody picked it up for a while)."""
    if file_import.status not in (FileImportStatus.QUEUED, FileImportStatus.RUNNING):
        return Liveness("idle")
    now = now or timezone.now()
    job = None
    if file_import.job_id:
        job = Job.objects.filter(pk=file_import.job_id).first()
    if job is None:
        return Liveness("dead", str(REASON_JOB_GONE))
    if job.status in (JobStatus.SUCCESSFUL, JobStatus.FAILED):
        return Liveness("dead", str(REASON_JOB_ENDED))
    beat = read_progress_file(file_import.pk) or {}
    here = socket.gethostname()
    if beat.get("host") == here and beat.get("pid") and not _pid_alive(int(beat["pid"])):
        return Liveness("dead", str(REASON_PROCESS_GONE))
    if job.status == JobStatus.RUNNING:
        worker = _worker_pid(job.worker_id)
        if worker and worker[0] == here and not _pid_alive(worker[1]):
            return Liveness("dead", str(REASON_PROCESS_GONE))
        last = None
        with contextlib.suppress(TypeError, ValueError):
            last = dt.datetime.fromisoformat(str(beat["at"])) if beat.get("at") else None
        last = last or file_import.started_at or job.started_at or job.enqueued_at
        if now - last > STALE_AFTER:
            minutes = int((now - last).total_seconds() // 60)
            return Liveness("stale", str(REASON_NO_HEARTBEAT % {"minutes": minutes}))
        return Liveness("alive")
    if now - job.enqueued_at > STALE_QUEUE_AFTER:
        minutes = int((now - job.enqueued_at).total_seconds() // 60)
        return Liveness("stale", str(REASON_NOT_PICKED % {"minutes": minutes}))
    return Liveness("alive")


# --- reading the whole file into records ------------------------------------------------------


@dataclass
class Problem:
    """One reason one group of rows was rejected."""

    rows: list[int]
    external_id: str
    field: str
    message: str


@dataclass
class Collected:
    """A file read into the engine's raw records, with where each came from."""

    records: list[dict[str, Any]] = field(default_factory=list)
    rows_of: list[list[int]] = field(default_factory=list)  # rows of records[i]
    unreadable: list[Problem] = field(default_factory=list)
    unreadable_groups: int = 0
    rows_read: int = 0
    truncated: bool = False  # stopped at ``limit`` rows with more to come
    groups_of: dict[int, list[int]] = field(default_factory=dict)  # row → rows of its unreadable group
    spool: Any = None  # a temporary CSV copy of the rows read (xlsx files), for the report

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()
            self.spool = None

    @property
    def row_total(self) -> int:
        return self.rows_read


def _reason_pairs(reasons: Iterable[Any]) -> list[tuple[str, str]]:
    out = []
    for r in reasons or ():
        if isinstance(r, str):
            out.append(("", r))
        else:
            out.append((str(_get(r, "field", "") or ""), str(_get(r, "message", "") or r)))
    return out or [("", str(ERR_ROW_UNREADABLE))]


def _external_id_of(record: dict[str, Any] | None, mapped: dict[str, str] | None = None) -> str:
    if record and record.get("external_id") is not None:
        return str(record.get("external_id"))
    if mapped:
        return str(mapped.get("external_id", ""))
    return ""


def collect_records(
    file_import: FileImport,
    *,
    limit: int | None = None,
    on_row: Callable[[int], None] | None = None,
) -> Collected:
    """Read the file (its first ``limit`` data rows) through the mapping into the engine's records.

    An xlsx file is also copied, row by row, to a temporary CSV (``Collected.spool``): the error report
    needs the original cells of the rejected rows, and reading that copy again costs a fraction of
    parsing the spreadsheet again. Call ``close()`` on the result when done.
    """
    inbound = _inbound()
    out = Collected()
    mapping = dict(file_import.mapping or {})
    default_version = _version_at(file_import) if uses_upload_time_as_version(mapping) else None
    spool_writer = None
    if file_import.file_format == "xlsx":
        out.spool = tempfile.TemporaryFile(mode="w+", encoding="utf-8", newline="")
        spool_writer = csv.writer(out.spool)
    with _open(file_import) as table:
        source = table.rows

        def limited() -> Iterator[tuple[int, list[str]]]:
            for number, cells in source:
                if limit is not None and out.rows_read >= limit:
                    out.truncated = True
                    return
                out.rows_read += 1
                if on_row is not None:
                    on_row(out.rows_read)
                if spool_writer is not None:
                    spool_writer.writerow([number, *cells])
                yield number, cells

        # The external id of the rows not yet grouped: an unreadable group comes back without its record.
        pending: dict[int, str] = {}

        def remember() -> Iterator[tuple[int, dict[str, str]]]:
            for number, values in mapped_rows(table.header, mapping, limited()):
                pending[number] = values.get("external_id", "")
                yield number, values

        for numbers, record, reasons in inbound.rows_to_records(file_import.entity, remember()):
            numbers = [int(n) for n in numbers]
            ext = next((pending[n] for n in numbers if pending.get(n)), "")
            for n in numbers:
                pending.pop(n, None)
            if record is None:
                out.unreadable_groups += 1
                out.unreadable.extend(_row_problems(numbers, reasons, ext))
                if len(numbers) > 1:
                    for n in numbers:
                        out.groups_of[n] = numbers
                continue
            if default_version and "version" not in record and "updated_at" not in record:
                record["updated_at"] = default_version
            out.records.append(record)
            out.rows_of.append(numbers)
            if reasons:  # rows dropped from a record that was otherwise read
                out.unreadable.extend(_row_problems(numbers, reasons, _external_id_of(record)))
    return out


def _row_problems(numbers: list[int], reasons: Iterable[Any], external_id: str = "") -> list[Problem]:
    """The reasons of a group of rows; a reason naming its row (``{"row": 7, …}``) belongs to that row."""
    problems = []
    for r in reasons or ():
        row = _get(r, "row") if not isinstance(r, str) else None
        rows = [int(row)] if isinstance(row, int) or (isinstance(row, str) and row.isdigit()) else numbers
        for fld, msg in _reason_pairs([r]):
            problems.append(Problem(rows, external_id, fld, msg))
    return problems or [Problem(numbers, external_id, "", str(ERR_ROW_UNREADABLE))]


def uses_upload_time_as_version(mapping: dict[str, Any] | None) -> bool:
    """A file without a version or updated_at column: every record gets the upload time as updated_at."""
    mapping = mapping or {}
    return not mapping.get("version") and not mapping.get("updated_at")


def _version_at(file_import: FileImport) -> str:
    """The upload time, kept in the import (a re-run keeps the first upload's time: a replay stays one)."""
    at = (file_import.preview or {}).get("version_at")
    if at:
        return str(at)
    created = file_import.created_at or timezone.now()
    return created.isoformat()


def _position_index(position: int, count: int) -> int | None:
    """The engine numbers the records it was given from 0, in order."""
    i = int(position)
    return i if 0 <= i < count else None


def rejected_problems(
    collected: Collected, results: list[Any], file_import: FileImport | None = None
) -> list[Problem]:
    """Every reason for every rejected row: the file's unreadable rows and the engine's rejections.

    A reason about one line of an order (``lines.1.product``) goes to that line's row; the other rows
    of a rejected order are listed too ("rejected with the rest of its record"), so every row that
    was not imported is in the report.
    """
    problems = list(collected.unreadable)
    covered = {n for p in problems for n in p.rows}
    for p in list(problems):
        _cover_group(problems, covered, collected_rows_of_group(collected, p), p.external_id)
    count = len(collected.records)
    for r in results:
        if str(_get(r, "outcome", "")) != "rejected":
            continue
        i = _position_index(int(_get(r, "position", 0)), count)
        rows = collected.rows_of[i] if i is not None else []
        record = collected.records[i] if i is not None else None
        ext = str(_get(r, "external_id", "") or (record or {}).get("external_id", ""))
        for fld, msg in _reason_pairs(_get(r, "reasons", []) or []):
            p = Problem(_rows_for_reason(rows, fld, record), ext, _column_of(fld, file_import), msg)
            problems.append(p)
            covered.update(p.rows)
        _cover_group(problems, covered, rows, ext)
    problems.sort(key=lambda p: p.rows[0] if p.rows else 0)
    return problems


def collected_rows_of_group(collected: Collected, problem: Problem) -> list[int]:
    return collected.groups_of.get(problem.rows[0], []) if problem.rows else []


def _cover_group(problems: list[Problem], covered: set[int], rows: list[int], external_id: str) -> None:
    """Rows of a rejected record that no reason names: rejected along with the record's other rows."""
    named = [n for n in rows if n in covered]
    for n in rows:
        if n not in covered:
            where = ", ".join(str(m) for m in named) or "—"
            problems.append(Problem([n], external_id, "", str(MSG_REJECTED_WITH_RECORD % {"rows": where})))
            covered.add(n)


_LINE_FIELD = re.compile(r"^lines[.\[](\d+)")
_LINE_PREFIX = re.compile(r"^lines[.\[]\d+\]?\.?")


def _column_of(fld: str, file_import: FileImport | None) -> str:
    """The engine's field path (``lines.1.product``) as the file's column that filled it ("产品编号")."""
    if not fld or file_import is None:
        return fld
    row_field = fld
    if _LINE_PREFIX.match(fld):
        line_field = _LINE_PREFIX.sub("", fld).split(".")[0]
        reverse = {
            v: k for k, v in getattr(_inbound(), "LINE_FIELDS", {}).get(file_import.entity, {}).items()
        }
        row_field = reverse.get(line_field, line_field)
    else:
        row_field = fld.split(".")[0]
    return (file_import.mapping or {}).get(row_field) or fld


def _rows_for_reason(rows: list[int], fld: str, record: dict[str, Any] | None) -> list[int]:
    """A reason about one line of a grouped record (``lines.2.product``) belongs to that line's row."""
    m = _LINE_FIELD.match(fld or "")
    if m and record is not None and len(rows) > 1:
        idx = int(m.group(1))
        lines = record.get("lines") or []
        # Records group rows in file order, one line per row.
        if len(lines) == len(rows):
            if 0 <= idx < len(rows):
                return [rows[idx]]
            if 1 <= idx <= len(rows):
                return [rows[idx - 1]]
    return rows


def rejected_row_count(problems: Iterable[Problem]) -> int:
    return len({n for p in problems for n in p.rows})


@contextlib.contextmanager
def _rows_again(
    file_import: FileImport, collected: Collected | None
) -> Iterator[Iterator[tuple[int, list[str]]]]:
    """The file's data rows once more: from the spooled copy when there is one, else from the file."""
    if collected is not None and collected.spool is not None:
        collected.spool.flush()
        collected.spool.seek(0)
        yield ((int(r[0]), r[1:]) for r in csv.reader(collected.spool))
        return
    with _open(file_import) as table:
        yield table.rows


def _originals(
    file_import: FileImport, wanted: set[int], collected: Collected | None = None
) -> dict[int, list[str]]:
    """The original cells of the rows numbered ``wanted`` (reads until it has them all)."""
    found: dict[int, list[str]] = {}
    if not wanted:
        return found
    last = max(wanted)
    with _rows_again(file_import, collected) as rows:
        for number, cells in rows:
            if number in wanted:
                found[number] = cells
            if number >= last:
                break
    return found


def _problem_dicts(
    file_import: FileImport,
    header: list[str],
    problems: list[Problem],
    limit: int,
    collected: Collected | None = None,
) -> list[dict[str, Any]]:
    first = []
    for p in problems:
        for n in p.rows or [0]:
            first.append((n, p))
            if len(first) >= limit:
                break
        if len(first) >= limit:
            break
    originals = _originals(file_import, {n for n, _p in first if n}, collected)
    out = []
    for n, p in first:
        cells = originals.get(n, [])
        values = {h: cells[i] for i, h in enumerate(header) if h and i < len(cells) and cells[i]}
        out.append(
            {"row": n, "external_id": p.external_id, "field": p.field, "message": p.message, "values": values}
        )
    return out


def write_error_report(
    file_import: FileImport, header: list[str], problems: list[Problem], collected: Collected | None = None
) -> File | None:
    """The CSV of every rejected row: row, external id, field, message, then the row's original cells.

    Streams the rows once more (the spooled copy of an xlsx) to copy the original cells; written to a
    temporary file, so a big report costs disk, not memory. None when nothing was rejected.
    """
    if not problems:
        return None
    by_row: dict[int, list[Problem]] = {}
    loose: list[Problem] = []
    for p in problems:
        if not p.rows:
            loose.append(p)
        for n in p.rows:
            by_row.setdefault(n, []).append(p)
    tmp = tempfile.TemporaryFile(mode="w+b")
    text = io.TextIOWrapper(tmp, encoding="utf-8-sig", newline="", write_through=True)
    writer = csv.writer(text)
    writer.writerow([str(_("Row")), str(_("External ID")), str(_("Field")), str(_("Message")), *header])
    for p in loose:
        writer.writerow(["", p.external_id, p.field, p.message])
    remaining = set(by_row)
    if remaining:
        with _rows_again(file_import, collected) as rows:
            for number, cells in rows:
                if number in by_row:
                    for p in by_row[number]:
                        writer.writerow([number, p.external_id, p.field, p.message, *cells])
                    remaining.discard(number)
                    if not remaining:
                        break
    text.flush()
    text.detach()
    tmp.seek(0)
    return File(tmp, name=f"import-{file_import.pk}-errors.csv")


# --- checking (dry run) -----------------------------------------------------------------------


def _outcome_counts(outcome: Any) -> dict[str, int]:
    counts = dict(_get(outcome, "counts", {}) or {})
    return {k: int(counts.get(k, 0) or 0) for k in ("created", "updated", "unchanged", "rejected")}


def _check(
    file_import: FileImport, *, limit: int | None, actor: Any, live: LiveProgress | None = None
) -> dict[str, Any]:
    header = file_import_header(file_import)
    expected = file_import.total or None
    if live:
        live.set_phase(PHASE_READING, min(expected, limit) if expected and limit else expected)
    collected = collect_records(file_import, limit=limit, on_row=(lambda n: live.report(n)) if live else None)
    try:
        return _check_collected(file_import, collected, header=header, actor=actor, live=live)
    finally:
        collected.close()


def _check_collected(
    file_import: FileImport, collected: Collected, *, header: list[str], actor: Any, live: LiveProgress | None
) -> dict[str, Any]:
    inbound = _inbound()
    if collected.rows_read == 0:
        raise ValidationError(ERR_FILE_NO_ROWS, code="no_rows")
    cumulative = _cumulative_rows(collected)
    if live:
        live.set_phase(PHASE_CHECKING, collected.rows_read)
    outcome = inbound.batch_apply(
        system=file_import.system,
        entity=file_import.entity,
        records=collected.records,
        actor=actor,
        via="file",
        keep="rejected",
        progress=(lambda done, total=None: live.report(_rows_done(cumulative, done))) if live else None,
        total=len(collected.records),
        dry_run=True,
    )
    results = list(_get(outcome, "results", []) or [])
    counts = _outcome_counts(outcome)
    counts["rejected"] += collected.unreadable_groups
    problems = rejected_problems(collected, results, file_import)
    return {
        **_keep_file_facts(file_import.preview),
        "scope": "sample" if collected.truncated else "all",
        "rows_checked": collected.rows_read,
        "records": len(collected.records) + collected.unreadable_groups,
        "counts": counts,
        "rejected_rows": rejected_row_count(problems),
        "problems": _problem_dicts(file_import, header, problems, PREVIEW_PROBLEMS, collected),
        "problems_total": len(problems),
        "checked_at": timezone.now().isoformat(),
        "ignored_columns": [h for h in header if h and h not in set((file_import.mapping or {}).values())],
    }


def _cumulative_rows(collected: Collected) -> list[int]:
    cumulative = [0]
    for rows in collected.rows_of:
        cumulative.append(cumulative[-1] + len(rows))
    return cumulative


def _rows_done(cumulative: list[int], records_done: int) -> int:
    i = max(0, min(int(records_done), len(cumulative) - 1))
    return cumulative[i]


def _ready_to_check(actor: Any, file_import: FileImport) -> None:
    _require_owner(actor, file_import)
    _editable(file_import)
    errors = check_mapping(
        file_import.entity, file_import_header(file_import), dict(file_import.mapping or {})
    )
    if errors:
        raise ValidationError({k or "__all__": v for k, v in errors.items()})
    _check_system_entity(file_import.system, file_import.entity)


def file_import_preview(
    *, actor: User, file_import: FileImport, limit: int | None = PREVIEW_ROWS
) -> dict[str, Any]:
    """Check the file (its first ``limit`` rows; None: all) without writing anything; store the result.

    The check is the engine's own dry run, so "would create / update / unchanged / rejected" are the
    numbers the real run will produce (unless the database changes meanwhile).
    """
    _ready_to_check(actor, file_import)
    try:
        preview = _check(file_import, limit=limit, actor=actor)
    except ValidationError as exc:
        raise ValidationError({"file": exc.messages}) from exc
    file_import.preview = preview
    file_import.status = FileImportStatus.PREVIEWED
    fields = ["preview", "status"]
    if preview["scope"] == "all":
        file_import.total = preview["rows_checked"]
        fields.append("total")
    file_import.save(update_fields=fields)
    return preview


def file_import_check_all(*, actor: User, file_import: FileImport) -> Job:
    """Check the whole file in a background job (a dry run, nothing written); returns the job."""
    from steelyard.core.tasks import enqueue_job
    from steelyard.integrations import tasks_imports

    _ready_to_check(actor, file_import)
    job = enqueue_job(
        tasks_imports.check_file_import,
        actor=actor,
        label=_("Check %(file)s") % {"file": file_import.original_name},
        kwargs={"file_import_id": file_import.pk, "actor_id": actor.pk},
    )
    if not job.is_finished:  # the page follows the check through this job (immediate mode: done already)
        file_import.refresh_from_db()
        file_import.preview = {**(file_import.preview or {}), "check_job": str(job.pk)}
        file_import.save(update_fields=["preview"])
    file_import.refresh_from_db()
    return job


def file_import_check_execute(
    *, file_import_id: int, actor_id: int | None, job_id: Any = None
) -> dict[str, Any]:
    """Worker side of :func:`file_import_check_all`."""
    from steelyard.core.tasks import job_progress
    from steelyard.org.models import User

    fi = FileImport.objects.select_related("system").get(pk=file_import_id)
    actor = User.objects.filter(pk=actor_id).first() if actor_id else None
    live = LiveProgress(fi.pk, job_id, kind="check")
    try:
        preview = _check(fi, limit=None, actor=actor, live=live)
    finally:
        live.close()
    updated = 0
    current = FileImport.objects.filter(pk=fi.pk).values("mapping", "status").first()
    if current and current["mapping"] == fi.mapping:  # not remapped meanwhile
        updated = FileImport.objects.filter(
            pk=fi.pk, status__in=[FileImportStatus.UPLOADED, FileImportStatus.PREVIEWED]
        ).update(preview=preview, status=FileImportStatus.PREVIEWED, total=preview["rows_checked"])
    job_progress(preview["rows_checked"], preview["rows_checked"])
    return {
        "file_import": fi.pk,
        "stored": bool(updated),
        "counts": preview["counts"],
        "rows": preview["rows_checked"],
    }


# --- running ---------------------------------------------------------------------------------


def file_import_run(*, actor: User, file_import: FileImport, dispatch: bool = True) -> Job:
    """Queue the import of the whole file (audited); returns its job.

    ``dispatch=False`` only creates the job row (READY) for a caller that runs it in its own process
    with ``steelyard.core.tasks.execute_job`` (the ``run_file_import`` command).
    """
    from steelyard.core.services.jobs import job_create
    from steelyard.core.tasks import enqueue_job
    from steelyard.integrations import tasks_imports

    _require_owner(actor, file_import)
    if file_import.status in (FileImportStatus.QUEUED, FileImportStatus.RUNNING):
        raise ValidationError(ERR_BUSY, code="busy")
    if file_import.status in (FileImportStatus.DONE, FileImportStatus.FAILED):
        raise ValidationError(ERR_ALREADY_RUN, code="already_run")
    errors = check_mapping(
        file_import.entity, file_import_header(file_import), dict(file_import.mapping or {})
    )
    if errors:
        raise ValidationError({k or "__all__": v for k, v in errors.items()})
    _check_system_entity(file_import.system, file_import.entity)
    label = _("Import %(file)s") % {"file": file_import.original_name}
    kwargs = {"file_import_id": file_import.pk, "actor_id": actor.pk}
    job: Job | None = None
    with transaction.atomic():
        claimed = FileImport.objects.filter(
            pk=file_import.pk, status__in=[FileImportStatus.UPLOADED, FileImportStatus.PREVIEWED]
        ).update(status=FileImportStatus.QUEUED, error="")
        if not claimed:
            raise ValidationError(ERR_BUSY, code="busy")
        if not dispatch:
            job = job_create(
                task_path=tasks_imports.run_file_import.module_path,
                args=[],
                kwargs=kwargs,
                created_by=actor,
                label=str(label),
            )
            FileImport.objects.filter(pk=file_import.pk).update(job=job)
        audit_record(
            actor=actor,
            action=AuditAction.ACTION,
            obj=file_import,
            verb=AUDIT_RUN,
            object_repr=file_import.original_name,
            extra={
                "system": file_import.system.code,
                "entity": file_import.entity,
                "file": file_import.original_name,
            },
        )
    if job is None:
        # Outside the claim's transaction: in immediate mode (tests) the job runs right here, and its
        # own bookkeeping must not sit inside ours. The worker records the job on the import itself.
        job = enqueue_job(tasks_imports.run_file_import, actor=actor, label=label, kwargs=kwargs)
        FileImport.objects.filter(pk=file_import.pk, job__isnull=True).update(job=job)
    file_import.refresh_from_db()
    return job


def file_import_rerun(*, actor: User, file_import: FileImport, dispatch: bool = True) -> FileImport:
    """Run the same file again as a new import (same system, entity and mapping); returns the new one.

    Allowed once the earlier run has finished, failed, or stopped without finishing (its job died or
    went silent — see :func:`file_import_liveness`); such a run is marked failed first, honestly. Its
    transaction never committed, so nothing of it is in the database.
    """
    _require_owner(actor, file_import)
    if file_import.status in (FileImportStatus.UPLOADED, FileImportStatus.PREVIEWED):
        raise ValidationError(ERR_NOT_RUN_YET, code="not_run")
    if file_import.status in (FileImportStatus.QUEUED, FileImportStatus.RUNNING):
        alive = file_import_liveness(file_import)
        if not alive.stopped:
            raise ValidationError(ERR_STILL_ALIVE, code="alive")
        file_import_mark_stopped(actor=actor, file_import=file_import, reason=alive.reason)
    if not default_storage.exists(file_import.file.name):
        raise ValidationError(ERR_FILE_GONE, code="gone")
    with transaction.atomic():
        again = FileImport.objects.create(
            system=file_import.system,
            entity=file_import.entity,
            template=file_import.template,
            mapping=dict(file_import.mapping or {}),
            file=file_import.file.name,
            original_name=file_import.original_name,
            file_format=file_import.file_format,
            status=FileImportStatus.PREVIEWED
            if file_import.preview.get("counts")
            else FileImportStatus.UPLOADED,
            preview=dict(file_import.preview or {}),
            total=file_import.total,
            created_by=file_import.created_by or actor,
        )
        audit_record(
            actor=actor,
            action=AuditAction.ACTION,
            obj=again,
            verb=AUDIT_RERUN,
            object_repr=again.original_name,
            extra={"again_of": file_import.pk, "file": again.original_name},
        )
    file_import_run(actor=actor, file_import=again, dispatch=dispatch)
    again.refresh_from_db()
    return again


def file_import_mark_stopped(*, actor: Any, file_import: FileImport, reason: str) -> bool:
    """Mark a queued/running import whose job died as failed (audited); False if it moved on meanwhile."""
    message = str(MSG_STOPPED % {"reason": reason})
    with transaction.atomic():
        changed = FileImport.objects.filter(
            pk=file_import.pk, status__in=[FileImportStatus.QUEUED, FileImportStatus.RUNNING]
        ).update(status=FileImportStatus.FAILED, error=message, finished_at=timezone.now())
        if changed:
            audit_record(
                actor=actor,
                action=AuditAction.ACTION,
                obj=file_import,
                verb=AUDIT_STOPPED,
                object_repr=file_import.original_name,
                extra={"reason": reason},
            )
    _remove_progress_file(file_import.pk)
    file_import.refresh_from_db()
    return bool(changed)


def file_import_execute(*, file_import_id: int, actor_id: int | None, job_id: Any = None) -> dict[str, Any]:
    """Worker side of :func:`file_import_run`: read the file, apply it in ONE transaction, report.

    1. Claim the import (QUEUED → RUNNING, committed at once, so the page shows it).
    2. Read the whole file into the engine's records (outside the transaction: reading holds no lock).
    3. In one ``transaction.atomic()``: ``batch_apply(via="file", keep="rejected")``, write the error
       report, store the counts and mark the import done, audit it. A crash or a kill anywhere in here
       rolls everything back; the import then shows as stopped and can be run again.
    """
    from steelyard.core.tasks import job_progress
    from steelyard.org.models import User

    inbound = _inbound()
    now = timezone.now()
    claimed = FileImport.objects.filter(pk=file_import_id, status=FileImportStatus.QUEUED).update(
        status=FileImportStatus.RUNNING, started_at=now, **({"job_id": job_id} if job_id else {})
    )
    if not claimed:
        logger.warning("file import %s is not queued; not running it", file_import_id)
        return {"file_import": file_import_id, "skipped": True}
    fi = FileImport.objects.select_related("system").get(pk=file_import_id)
    actor = User.objects.filter(pk=actor_id).first() if actor_id else None
    live = LiveProgress(fi.pk, job_id)
    started = time.perf_counter()
    collected: Collected | None = None
    try:
        header = file_import_header(fi)
        live.set_phase(PHASE_READING, fi.total or None, str(_("Reading the file")))
        collected = collect_records(fi, on_row=live.report)
        rows = collected.rows_read
        cumulative = _cumulative_rows(collected)
        live.set_phase(PHASE_IMPORTING, rows, str(_("Importing")))
        with transaction.atomic():
            outcome = inbound.batch_apply(
                system=fi.system,
                entity=fi.entity,
                records=collected.records,
                actor=actor,
                via="file",
                keep="rejected",
                progress=lambda done, total=None: live.report(_rows_done(cumulative, done)),
                total=len(collected.records),
            )
            live.set_phase(PHASE_REPORT, rows, str(_("Writing the error report")))
            results = list(_get(outcome, "results", []) or [])
            counts = _outcome_counts(outcome)
            counts["rejected"] += collected.unreadable_groups
            problems = rejected_problems(collected, results, fi)
            record_count = len(collected.records) + collected.unreadable_groups
            collected.records = []  # not needed any more: let the memory go before the report
            del results, outcome.results
            report = write_error_report(fi, header, problems, collected)
            batch = _get(outcome, "batch")
            fi.status = FileImportStatus.DONE
            fi.total = rows
            fi.created, fi.updated = counts["created"], counts["updated"]
            fi.unchanged, fi.rejected = counts["unchanged"], counts["rejected"]
            fi.batch = batch if getattr(batch, "pk", None) else None
            fi.finished_at = timezone.now()
            fi.error = ""
            if report is not None:
                fi.error_report.save(report.name, report, save=False)
                report.close()
            fi.save(
                update_fields=[
                    "status",
                    "total",
                    "created",
                    "updated",
                    "unchanged",
                    "rejected",
                    "batch",
                    "finished_at",
                    "error",
                    "error_report",
                ]
            )
            result = {
                "file_import": fi.pk,
                "rows": rows,
                "records": record_count,
                **counts,
                "rejected_rows": rejected_row_count(problems),
                "duration_s": round(time.perf_counter() - started, 2),
            }
            audit_record(
                actor=actor,
                action=AuditAction.ACTION,
                obj=fi,
                verb=AUDIT_DONE,
                object_repr=fi.original_name,
                extra={"system": fi.system.code, "entity": fi.entity, **result},
            )
    except BaseException as exc:
        live.close()
        _mark_failed(fi, actor, exc)
        raise
    finally:
        if collected is not None:
            collected.close()
    live.close()
    job_progress(rows, rows, str(_("Done")))
    _notify_done(fi, actor)
    return result


def _mark_failed(fi: FileImport, actor: Any, exc: BaseException) -> None:
    """After a rollback: the import failed, nothing was written (separate, committed at once)."""
    detail = "; ".join(getattr(exc, "messages", None) or [str(exc) or exc.__class__.__name__])
    message = str(ERR_RUN_FAILED % {"error": detail[:500]})
    try:
        with transaction.atomic():
            FileImport.objects.filter(pk=fi.pk, status=FileImportStatus.RUNNING).update(
                status=FileImportStatus.FAILED, error=message, finished_at=timezone.now()
            )
            audit_record(
                actor=actor,
                action=AuditAction.ACTION,
                obj=fi,
                verb=AUDIT_FAILED,
                object_repr=fi.original_name,
                extra={"error": detail[:500]},
            )
    except Exception:  # the database itself may be what failed
        logger.exception("could not mark file import %s failed", fi.pk)


def _notify_done(fi: FileImport, actor: Any) -> None:
    """Tell the uploader (when someone else ran it, or it ran in the background) that it finished."""
    from django.urls import reverse

    from steelyard.core.services.notifications import notify

    if not fi.created_by_id:
        return
    try:
        notify(
            recipients=[fi.created_by],
            title=_("Import of %(file)s finished") % {"file": fi.original_name},
            body=_(
                "%(created)s created, %(updated)s updated, %(unchanged)s unchanged, %(rejected)s rejected."
            )
            % {
                "created": fi.created,
                "updated": fi.updated,
                "unchanged": fi.unchanged,
                "rejected": fi.rejected,
            },
            subject=fi,
            url=reverse("integrations_import_detail", args=[fi.pk]),
            actor=actor,
        )
    except Exception:  # a notification channel must never undo a finished import
        logger.exception("could not notify about file import %s", fi.pk)


def error_report_rows(file_import: FileImport) -> Iterator[list[str]]:
    """The stored error report's rows (header first), for tests and the API."""
    if not file_import.error_report:
        return iter(())
    with default_storage.open(file_import.error_report.name, "rb") as fh:
        text = fh.read().decode("utf-8-sig")
    return iter(list(csv.reader(io.StringIO(text))))
