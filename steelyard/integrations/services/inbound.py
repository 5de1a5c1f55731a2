"""Inbound integration: applying batches of external records idempotently.

External systems (ERP, APS, MES, SRM) send batches of records — over the API
(``/api/v1/integrations/inbound/{entity}``) or in a file import — and this module upserts them.

Public names (other areas build on them):

``ENTITIES``
    The entity types a system may send: customer, product_line, product, contract, order,
    order_status, shipment, invoice, payment, production, capacity.

``record_schema(entity)``
    The pydantic model of one record (``steelyard.integrations.schemas``).

``field_catalogue(entity)``
    The flat fields a file row can fill, as :class:`FieldInfo` (name, label, required, example,
    kind, help, choices). For "order" and "shipment" a row is one LINE: header fields plus line
    fields (``line_no``, ``product``, ``quantity`` …); rows with the same ``external_id`` make one
    record (:func:`rows_to_records`).

``rows_to_records(entity, rows)``
    Turns mapped file rows ``(row number, {field: text})`` into raw records, yielding
    ``(row numbers, record or None, reasons)``. Empty cells are left out, choice labels in Chinese or
    English become their values, yes/no words become booleans. The rows of one order must be
    adjacent; a repeated or conflicting order is reported instead of being guessed at.

``batch_apply(*, system, entity, records, actor, via="api", keep="all", progress=None, total=None,
dry_run=False)``
    Validates and applies ``records`` and returns a :class:`BatchOutcome` (the ``InboundBatch`` —
    None for a dry run —, one :class:`RecordResult` per record in order, and the counts). The
    caller owns the transaction and checks who may send (the API: the system's own machine user;
    file imports: whoever the import screens allow); this function refuses inactive systems and
    entities the system may not write.

How a record is applied (ARCHITECTURE rule 8):

1. It is validated against its schema; errors are that record's rejection (field + message).
2. Its version is ``version``, else ``updated_at`` in µs since the epoch (an order status event
   without either uses its ``at``). Its content hash is the SHA-256 of its canonical JSON (all
   fields but the version ones; numbers normalised, times in UTC).
3. The key map (``ExternalRecord``, one per system, entity and external id) decides: an older
   version than the one applied → "unchanged" ("older than the version already applied"); the same
   content → "unchanged" with no write at all (a newer version of the same content only moves the
   stored version); otherwise the record is applied: "created", or "updated" (also when it was
   linked to a row we already had by its business key: product code, order number, credit code).
4. References are resolved (an unknown one rejects the record, naming the field and value), the
   handler's database checks run, and the survivors are written in bulk.

Records are processed in chunks of :data:`CHUNK_SIZE`: one query loads a chunk's key map, one query
per referenced entity resolves its references, and writes are bulk inserts/updates. Each chunk runs
in a savepoint; if the database still refuses it, the chunk is retried record by record so one bad
record cannot stop the others. A replayed batch costs one read per chunk and writes nothing but the
batch's own report (``InboundBatch``, its ``InboundResult`` rows and one audit row).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import time
import types
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, Literal, Union, cast, get_args, get_origin

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import override
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from steelyard.core.api.errors import validation_fields
from steelyard.core.models import AuditAction
from steelyard.core.services.audit import audit_record
from steelyard.integrations.models import (
    ExternalRecord,
    ExternalSystem,
    InboundBatch,
    InboundResult,
    Outcome,
    Via,
)
from steelyard.integrations.schemas import RECORD_SCHEMAS, Record
from steelyard.integrations.services.handlers import HANDLERS
from steelyard.integrations.services.handlers.base import Context, Handler, Item
from steelyard.orders.services.sync import insert_rows

logger = logging.getLogger(__name__)

ENTITIES: tuple[str, ...] = tuple(RECORD_SCHEMAS)
CHUNK_SIZE = 1000
MAX_API_RECORDS = 1000
AUDIT_VERB = "integrations.batch"
KEEP_ALL = "all"
KEEP_REJECTED = "rejected"

ERR_UNKNOWN_ENTITY = _("“%(entity)s” is not something a system can send.")
ERR_SYSTEM_INACTIVE = _("This system is switched off.")
ERR_ENTITY_NOT_ALLOWED = _("This system may not send %(entity)s.")
ERR_NOT_OBJECT = _("Enter an object.")
ERR_NO_VERSION = _("Give the record a version (a whole number) or an updated_at time.")
ERR_OLDER = _("older than the version already applied")
ERR_NOT_SAVED = _("The record could not be saved: %(error)s")
ERR_ROW_CONFLICT = _("Differs from row %(row)s of the same record.")
ERR_NOT_ADJACENT = _(
    "The rows of record “%(external_id)s” must be next to each other (it already appeared at row %(row)s)."
)

Reason = dict[str, Any]
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


# --- results ------------------------------------------------------------------------------------


@dataclass
class RecordResult:
    position: int
    external_id: str
    outcome: str
    object_id: int | None = None
    reasons: list[Reason] = field(default_factory=list)


@dataclass
class BatchOutcome:
    batch: InboundBatch | None
    results: list[RecordResult]
    counts: dict[str, int]


def empty_counts() -> dict[str, int]:
    return {"total": 0, "created": 0, "updated": 0, "unchanged": 0, "rejected": 0}


# --- schemas and the field catalogue ------------------------------------------------------------


def _check_entity(entity: str) -> None:
    if entity not in RECORD_SCHEMAS:
        raise ValidationError({"entity": str(ERR_UNKNOWN_ENTITY % {"entity": entity})}, code="unknown_entity")


def record_schema(entity: str) -> type[BaseModel]:
    """The pydantic model of one record of ``entity``."""
    _check_entity(entity)
    return RECORD_SCHEMAS[entity]


@dataclass(frozen=True)
class FieldInfo:
    """One field a file row can fill."""

    name: str
    label: Any  # lazy
    required: bool
    example: str
    kind: str  # text, int, decimal, date, datetime, bool, choice, ref, list
    help: Any = ""
    choices: tuple[tuple[str, Any], ...] = ()  # (value, lazy label) for "choice"


FIELD_LABELS: dict[str, Any] = {
    "external_id": _("External id"),
    "version": _("Version"),
    "updated_at": _("Updated at"),
    "code": _("Code"),
    "name": _("Name"),
    "name_en": _("English name"),
    "description": _("Description"),
    "is_active": _("Active"),
    "product_line": _("Product line"),
    "kind": _("Kind"),
    "list_price": _("List price"),
    "currency": _("Currency"),
    "unit": _("Unit"),
    "legal_name": _("Legal name"),
    "short_name": _("Short name"),
    "credit_code": _("Unified social credit code"),
    "industry": _("Industry"),
    "province": _("Province"),
    "city": _("City"),
    "address": _("Address"),
    "size": _("Size"),
    "status": _("Status"),
    "is_key_account": _("Key account"),
    "owner": _("Owner username"),
    "customer": _("Customer id"),
    "customer_credit_code": _("Customer credit code"),
    "number": _("Number"),
    "title": _("Title"),
    "signed_on": _("Signed on"),
    "starts_on": _("Starts on"),
    "ends_on": _("Ends on"),
    "amount": _("Amount"),
    "contract": _("Contract"),
    "ordered_on": _("Ordered on"),
    "requested_date": _("Requested delivery"),
    "promised_date": _("Promised delivery"),
    "plant": _("Plant code"),
    "plant_name": _("Plant name"),
    "notes": _("Notes"),
    "status_at": _("Status since"),
    "line_no": _("Line"),
    "product": _("Product"),
    "quantity": _("Quantity"),
    "unit_price": _("Unit price"),
    "line_requested_date": _("Line requested delivery"),
    "line_promised_date": _("Line promised delivery"),
    "line_description": _("Line description"),
    "order": _("Order"),
    "at": _("At"),
    "note": _("Note"),
    "shipped_on": _("Shipped on"),
    "delivered_on": _("Delivered on"),
    "carrier": _("Carrier"),
    "tracking": _("Tracking number"),
    "serial_numbers": _("Serial numbers"),
    "issued_on": _("Issued on"),
    "due_on": _("Due on"),
    "tax": _("Of which tax"),
    "invoice": _("Invoice"),
    "received_on": _("Received on"),
    "method": _("Method"),
    "quantity_done": _("Quantity done"),
    "planned_start": _("Planned start"),
    "planned_finish": _("Planned finish"),
    "actual_start": _("Started on"),
    "actual_finish": _("Finished on"),
    "month": _("Month"),
    "capacity_units": _("Capacity (units)"),
    "planned_units": _("Booked (units)"),
}

FIELD_HELP: dict[str, Any] = {
    "external_id": _("Your system's id of the record."),
    "version": _("A whole number that grows with each change; or give Updated at instead."),
    "updated_at": _("When your system last changed the record; used when there is no version."),
    "customer": _("Your system's id of the customer; or give the customer credit code instead."),
    "customer_credit_code": _("The customer's 18-character unified social credit code."),
    "product": _("Your system's id of the product, or our product code."),
    "product_line": _("Your system's id of the product line, or our product line code."),
    "order": _("Your system's id of the order, or our order number."),
    "contract": _("Your system's id of the contract, or our contract number."),
    "invoice": _("Your system's id of the invoice, or our invoice number."),
    "number": _("Empty: the external id is used."),
    "serial_numbers": _("Separated by commas."),
    "month": _("YYYY-MM"),
    "owner": _("Used only when the customer is created."),
}

FIELD_EXAMPLES: dict[str, str] = {
    "external_id": "ERP-10001",
    "version": "3",
    "updated_at": "2025-03-01T09:30:00+08:00",
    "code": "QY25K",
    "name": "QY25K 汽车起重机",
    "name_en": "QY25K truck crane",
    "description": "",
    "is_active": "true",
    "product_line": "CRANE",
    "kind": "machine",
    "list_price": "1280000.00",
    "currency": "CNY",
    "unit": "台",
    "legal_name": "上海振华重工（集团）股份有限公司",
    "short_name": "振华重工",
    "credit_code": "91310000132228728T",
    "industry": "ports",
    "province": "上海",
    "city": "上海",
    "address": "浦东新区东方路3261号",
    "size": "giant",
    "status": "",
    "is_key_account": "false",
    "owner": "alice",
    "customer": "C-20001",
    "customer_credit_code": "91310000132228728T",
    "number": "SO-2025-0001",
    "title": "2025 年度框架合同",
    "signed_on": "2025-02-18",
    "starts_on": "2025-03-01",
    "ends_on": "2025-12-31",
    "amount": "2560000.00",
    "contract": "HT-2025-001",
    "ordered_on": "2025-03-01",
    "requested_date": "2025-05-30",
    "promised_date": "2025-06-15",
    "plant": "XZ01",
    "plant_name": "徐州一厂",
    "notes": "",
    "status_at": "2025-03-01T10:00:00+08:00",
    "line_no": "1",
    "product": "QY25K",
    "quantity": "2",
    "unit_price": "1280000.00",
    "line_requested_date": "2025-05-30",
    "line_promised_date": "2025-06-15",
    "line_description": "",
    "order": "SO-2025-0001",
    "at": "2025-04-20T08:00:00+08:00",
    "note": "",
    "shipped_on": "2025-06-10",
    "delivered_on": "2025-06-14",
    "carrier": "德邦物流",
    "tracking": "DB123456789",
    "serial_numbers": "QY25K-0001, QY25K-0002",
    "issued_on": "2025-06-10",
    "due_on": "2025-07-10",
    "tax": "294513.27",
    "invoice": "INV-2025-0001",
    "received_on": "2025-07-05",
    "method": "bank_transfer",
    "quantity_done": "1",
    "planned_start": "2025-04-01",
    "planned_finish": "2025-05-20",
    "actual_start": "2025-04-02",
    "actual_finish": "2025-05-18",
    "month": "2025-06",
    "capacity_units": "40",
    "planned_units": "32",
}

#: File-row fields that fill an order or shipment LINE: {row field: line field}.
LINE_FIELDS: dict[str, dict[str, str]] = {
    "order": {
        "line_no": "line_no",
        "product": "product",
        "quantity": "quantity",
        "unit_price": "unit_price",
        "line_requested_date": "requested_date",
        "line_promised_date": "promised_date",
        "line_description": "description",
    },
    "shipment": {"line_no": "line_no", "quantity": "quantity", "serial_numbers": "serial_numbers"},
}


def _unwrap(annotation: Any) -> Any:
    """The inner type of ``X | None`` and ``Annotated[X, ...]``."""
    for _i in range(10):
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        else:
            break
    return annotation


def _kind(annotation: Any) -> tuple[str, tuple[str, ...]]:
    inner = _unwrap(annotation)
    if get_origin(inner) is Literal:
        return "choice", tuple(get_args(inner))
    if get_origin(inner) is list:
        return "list", ()
    if inner is bool:
        return "bool", ()
    if inner is int:
        return "int", ()
    if inner is Decimal:
        return "decimal", ()
    if inner is dt.datetime:
        return "datetime", ()
    if inner is dt.date:
        return "date", ()
    return "text", ()


_CHOICE_LABELS: dict[tuple[str, str], dict[str, str]] = {}


def _choice_labels(entity: str, name: str, values: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
    """(value, label) pairs of a choice field, from the model field's choices."""
    from steelyard.integrations.services.handlers import HANDLERS

    handler = HANDLERS[entity]
    model_field = handler.fields.get(name, name)
    try:
        choices = dict(getattr(handler.model._meta.get_field(model_field), "choices", None) or [])
    except Exception:
        choices = {}
    return tuple((v, choices.get(v, v)) for v in values)


def _field_info(
    entity: str, name: str, annotation: Any, required: bool, *, row_name: str | None = None
) -> FieldInfo:
    kind, values = _kind(annotation)
    shown = row_name or name
    if name in RECORD_SCHEMAS[entity].REFS or (
        row_name is None and f"lines.{name}" in RECORD_SCHEMAS[entity].REFS
    ):
        kind = "ref"
    if name == "product" and entity == "order":
        kind = "ref"
    if name == "month":
        kind = "text"
    return FieldInfo(
        name=shown,
        label=FIELD_LABELS.get(shown, shown),
        required=required,
        example=FIELD_EXAMPLES.get(shown, ""),
        kind=kind,
        help=FIELD_HELP.get(shown, ""),
        choices=_choice_labels(entity, name, values) if kind == "choice" else (),
    )


def field_catalogue(entity: str) -> list[FieldInfo]:
    """The flat fields of ``entity`` a file row can fill (for mapping screens and templates)."""
    schema = record_schema(entity)
    fields: list[FieldInfo] = []
    for name, info in schema.model_fields.items():
        if name == "lines":
            continue
        fields.append(_field_info(entity, name, info.annotation, info.is_required()))
    line_fields = LINE_FIELDS.get(entity)
    if line_fields:
        line_schema = schema.model_fields["lines"].annotation
        line_model = get_args(line_schema)[0]
        for row_name, line_name in line_fields.items():
            info = line_model.model_fields[line_name]
            item = _field_info(entity, line_name, info.annotation, info.is_required(), row_name=row_name)
            if line_name == "serial_numbers":
                item = FieldInfo(**{**item.__dict__, "kind": "list"})
            fields.append(item)
    return fields


# --- file rows → records ------------------------------------------------------------------------

_TRUE = {"1", "y", "yes", "true", "t", "on", "是", "对", "√", "✓", "x"}
_FALSE = {"0", "n", "no", "false", "f", "off", "否", "不是", "非", "×"}
_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]00:00(?::00(?:\.0+)?)?)?$")
_INT_FLOAT = re.compile(r"^-?\d+\.0+$")
_SPLIT = re.compile(r"[,;，；、\s]+")


def _choice_map(info: FieldInfo) -> dict[str, str]:
    words: dict[str, str] = {}
    for value, label in info.choices:
        words[value.lower()] = value
        for lang in ("en", "zh-hans"):
            with override(lang):
                words[str(label).strip().lower()] = value
    return words


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _convert(value: Any, info: FieldInfo | None, choices: dict[str, str] | None) -> Any:
    text = _text(value)
    if not text:
        return None
    if info is None:
        return text
    if info.kind == "choice" and choices:
        return choices.get(text.lower(), text)
    if info.kind == "bool":
        low = text.lower()
        return True if low in _TRUE else False if low in _FALSE else text
    if info.kind == "date":
        match = _DATE.match(text)
        return f"{int(match[1]):04d}-{int(match[2]):02d}-{int(match[3]):02d}" if match else text
    if info.kind == "int":
        return text.split(".")[0] if _INT_FLOAT.match(text) else text
    if info.kind == "list":
        return [s for s in _SPLIT.split(text) if s]
    return text


def rows_to_records(
    entity: str, rows: Iterable[tuple[int, dict[str, Any]]]
) -> Iterator[tuple[list[int], dict[str, Any] | None, list[Reason]]]:
    """Mapped file rows → raw records (see the module docstring)."""
    catalogue = {f.name: f for f in field_catalogue(entity)}
    choice_maps = {name: _choice_map(info) for name, info in catalogue.items() if info.kind == "choice"}

    def convert(row: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for name, value in row.items():
            converted = _convert(value, catalogue.get(name), choice_maps.get(name))
            if converted is not None:
                out[name] = converted
        return out

    line_fields = LINE_FIELDS.get(entity)
    if not line_fields:
        for number, row in rows:
            yield [number], convert(row), []
        return

    def split(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        header = {k: v for k, v in values.items() if k not in line_fields}
        line = {line_fields[k]: v for k, v in values.items() if k in line_fields}
        return header, line

    seen: dict[str, int] = {}
    group: dict[str, Any] | None = None

    def flush() -> Iterator[tuple[list[int], dict[str, Any] | None, list[Reason]]]:
        if group is None:
            return
        if group["reasons"]:
            yield group["rows"], None, group["reasons"]
        else:
            yield group["rows"], {**group["header"], "lines": group["lines"]}, []

    for number, row in rows:
        values = convert(row)
        header, line = split(values)
        external_id = header.get("external_id")
        if group is not None and external_id is not None and external_id == group["external_id"]:
            group["rows"].append(number)
            group["lines"].append(line)
            for name, value in header.items():
                if name in group["header"] and group["header"][name] != value:
                    group["reasons"].append(
                        {
                            "row": number,
                            "field": name,
                            "message": str(ERR_ROW_CONFLICT % {"row": group["rows"][0]}),
                        }
                    )
                else:
                    group["header"].setdefault(name, value)
            continue
        yield from flush()
        group = {
            "external_id": external_id,
            "rows": [number],
            "header": header,
            "lines": [line],
            "reasons": [],
        }
        if external_id is None:
            yield from flush()
            group = None
            continue
        if external_id in seen:
            group["reasons"].append(
                {
                    "row": number,
                    "field": "external_id",
                    "message": str(ERR_NOT_ADJACENT % {"external_id": external_id, "row": seen[external_id]}),
                }
            )
        else:
            seen[external_id] = number
    yield from flush()


# --- versions and hashes ------------------------------------------------------------------------


def datetime_version(value: dt.datetime) -> int:
    """A datetime as µs since the epoch (a naive one is read in the site's time zone)."""
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_current_timezone())
    return (value - _EPOCH) // dt.timedelta(microseconds=1)


def content_hash(rec: BaseModel) -> str:
    """SHA-256 of the record's canonical JSON, version fields and empty fields left out.

    The schemas make the JSON canonical: fields come in schema order, numbers are quantized to
    their field's decimal places and times are converted to UTC while validating.
    """
    text = rec.model_dump_json(exclude={"version", "updated_at"}, exclude_none=True)
    return hashlib.sha256(text.encode()).hexdigest()


# --- applying -----------------------------------------------------------------------------------


def entity_allowed(system: ExternalSystem, entity: str) -> bool:
    """Whether ``system`` may send ``entity`` (an empty list allows everything)."""
    return not system.entities or entity in system.entities


def _parse(handler: Handler, schema: type[Record], position: int, raw: Any) -> Item | RecordResult:
    if not isinstance(raw, dict):
        return RecordResult(
            position, "", Outcome.REJECTED, None, [{"field": "", "message": str(ERR_NOT_OBJECT)}]
        )
    given_id = str(raw.get("external_id") or "")[:100]
    try:
        rec = schema.model_validate(raw)
    except PydanticValidationError as exc:
        return RecordResult(
            position,
            given_id,
            Outcome.REJECTED,
            None,
            validation_fields(cast(list[dict[str, Any]], exc.errors())),
        )
    external_id = handler.external_id(rec) or ""
    version: int | None
    if rec.version is not None:
        version = rec.version
    elif rec.updated_at is not None:
        version = datetime_version(rec.updated_at)
    else:
        version = handler.default_version(rec)
    if version is None:
        return RecordResult(
            position,
            external_id,
            Outcome.REJECTED,
            None,
            [{"field": "version", "message": str(ERR_NO_VERSION)}],
        )
    return Item(
        position=position,
        rec=rec,
        external_id=external_id[:100],
        version=version,
        content_hash=content_hash(rec),
    )


def _waves(items: list[Item]) -> list[list[Item]]:
    """Split ``items`` so no wave holds two records with the same external id (applied in order)."""
    waves: list[list[Item]] = []
    count: Counter[str] = Counter()
    for item in items:
        n = count[item.external_id]
        count[item.external_id] += 1
        if n == len(waves):
            waves.append([])
        waves[n].append(item)
    return waves


def _process(handler: Handler, items: list[Item], ctx: Context) -> None:
    """Apply one wave of items (see the module docstring)."""
    stored = {
        r.external_id: r
        for r in ExternalRecord.objects.filter(
            system=ctx.system, entity=handler.entity, external_id__in={i.external_id for i in items}
        )
    }
    todo: list[Item] = []
    bumps: list[Item] = []
    for item in items:
        record = stored.get(item.external_id)
        item.stored = record
        if record is None:
            todo.append(item)
        elif item.version < record.version:
            item.outcome = Outcome.UNCHANGED
            item.object_id = record.object_id
            item.reasons = [{"field": "version", "message": str(ERR_OLDER)}]
        elif item.content_hash == record.content_hash:
            item.outcome = Outcome.UNCHANGED
            item.object_id = record.object_id
            if item.version > record.version:
                bumps.append(item)
        else:
            todo.append(item)
    for step in (handler.resolve, handler.load_locals, handler.check):
        todo = [i for i in todo if i.ok]
        if not todo:
            break
        step(todo, ctx)
    todo = [i for i in todo if i.ok]
    if ctx.dry_run:
        if todo:
            handler.dry_write(todo, ctx)
        return
    if todo:
        handler.write(todo, ctx)
    _save_key_map(handler, [i for i in todo if i.ok and i.object_id is not None], bumps, ctx)


def _save_key_map(handler: Handler, written: list[Item], bumps: list[Item], ctx: Context) -> None:
    insert_rows(
        ExternalRecord,
        ("system", "entity", "external_id", "object_id", "version", "content_hash", "applied_at"),
        (
            (ctx.system.pk, handler.entity, i.external_id, i.object_id, i.version, i.content_hash, ctx.now)
            for i in written
            if i.stored is None
        ),
    )
    updates = []
    for item in written:
        if item.stored is not None:
            record = item.stored
            record.object_id, record.version = item.object_id, item.version  # type: ignore[assignment]
            record.content_hash, record.applied_at = item.content_hash, ctx.now
            updates.append(record)
    if updates:
        ExternalRecord.objects.bulk_update(updates, ["object_id", "version", "content_hash", "applied_at"])
    if bumps:
        for item in bumps:
            item.stored.version = item.version  # type: ignore[union-attr]
        ExternalRecord.objects.bulk_update([i.stored for i in bumps if i.stored is not None], ["version"])


def _db_message(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else exc.__class__.__name__


def _run_chunk(handler: Handler, items: list[Item], ctx: Context) -> None:
    if not items:
        return
    if ctx.dry_run:
        for wave in _waves(items):
            _process(handler, wave, ctx)
        return
    try:
        with transaction.atomic():
            for wave in _waves(items):
                _process(handler, wave, ctx)
        return
    except DatabaseError:
        logger.warning("inbound %s chunk failed; retrying record by record", handler.entity, exc_info=True)
    for item in items:
        item.reset()
        try:
            with transaction.atomic():
                _process(handler, [item], ctx)
        except DatabaseError as exc:
            item.reset()
            item.reject("", ERR_NOT_SAVED % {"error": _db_message(exc)})


def _chunks(records: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def batch_apply(
    *,
    system: ExternalSystem,
    entity: str,
    records: Iterable[Any],
    actor: Any,
    via: str = Via.API,
    keep: str = KEEP_ALL,
    progress: Callable[[int, int | None], None] | None = None,
    total: int | None = None,
    dry_run: bool = False,
    chunk_size: int = CHUNK_SIZE,
) -> BatchOutcome:
    """Validate and apply a batch of ``entity`` records sent by ``system`` (see the module docstring).

    ``keep`` says which results are stored as ``InboundResult`` rows ("all" or "rejected"); the
    returned outcome always carries every result. ``progress(done, total)`` is called after each
    chunk. With ``dry_run`` everything is checked and nothing is written (no batch row either).
    """
    _check_entity(entity)
    if not system.is_active:
        raise PermissionDenied(str(ERR_SYSTEM_INACTIVE))
    if not entity_allowed(system, entity):
        raise PermissionDenied(str(ERR_ENTITY_NOT_ALLOWED % {"entity": entity}))
    handler = HANDLERS[entity]
    schema = RECORD_SCHEMAS[entity]
    started = time.monotonic()
    ctx = Context(system=system, actor=actor, dry_run=dry_run)
    batch = None
    if not dry_run:
        batch = InboundBatch.objects.create(system=system, entity=entity, via=via, actor=ctx.user)
    results: list[RecordResult] = []
    counts = empty_counts()
    position = 0
    for chunk in _chunks(records, chunk_size):
        parsed: list[Item | RecordResult] = []
        for raw in chunk:
            parsed.append(_parse(handler, schema, position, raw))
            position += 1
        items = [p for p in parsed if isinstance(p, Item)]
        _run_chunk(handler, items, ctx)
        chunk_results = [
            p
            if isinstance(p, RecordResult)
            else RecordResult(
                p.position, p.external_id, p.outcome or Outcome.UNCHANGED, p.object_id, p.reasons
            )
            for p in parsed
        ]
        for result in chunk_results:
            counts[result.outcome] += 1
        counts["total"] += len(chunk_results)
        results.extend(chunk_results)
        if batch is not None:
            InboundResult.objects.bulk_create(
                [
                    InboundResult(
                        batch=batch,
                        position=r.position,
                        external_id=r.external_id[:100],
                        outcome=r.outcome,
                        object_id=r.object_id,
                        reasons=r.reasons,
                    )
                    for r in chunk_results
                    if keep == KEEP_ALL or r.outcome == Outcome.REJECTED
                ]
            )
        if progress is not None:
            progress(position, total)
    if batch is not None:
        batch.total = counts["total"]
        batch.created = counts["created"]
        batch.updated = counts["updated"]
        batch.unchanged = counts["unchanged"]
        batch.rejected = counts["rejected"]
        batch.finished_at = timezone.now()
        batch.duration_ms = int((time.monotonic() - started) * 1000)
        batch.save(
            update_fields=[
                "total",
                "created",
                "updated",
                "unchanged",
                "rejected",
                "finished_at",
                "duration_ms",
            ]
        )
        audit_record(
            actor=actor,
            action=AuditAction.ACTION,
            obj=batch,
            verb=AUDIT_VERB,
            extra={"system": system.code, "entity": entity, "via": via, **counts},
        )
    return BatchOutcome(batch=batch, results=results, counts=counts)
