"""Importing customers and their contacts from a CSV or xlsx file: preview (dry run) and commit.

A customer import is a table whose header row names the columns in Chinese or English
(:data:`COLUMNS` is the one mapping; the downloadable template is built from it). The preview
parses and checks every row without writing anything; the commit re-checks the file and creates
every customer through ``customer_create`` in ONE transaction: if any row fails, nothing is written
and the report says why. Files over :data:`JOB_THRESHOLD` rows are committed by a background job.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from django.utils.translation import override

from steelyard.core.access import ADMINISTRATOR, user_has_role
from steelyard.core.services.audit import audit_record
from steelyard.core.tasks import job_progress, task
from steelyard.customers.models import CompanySize, CustomerSource, CustomerStatus, Industry, Tag
from steelyard.customers.normalize import name_key
from steelyard.customers.validators import normalize_credit_code, validate_credit_code
from steelyard.org.roles import MARKETING, SALES_DIRECTOR, SALES_MANAGER

IMPORT_ROLES = (ADMINISTRATOR, SALES_MANAGER, SALES_DIRECTOR, MARKETING)
JOB_THRESHOLD = 500
MAX_ROWS = 20_000
MAX_BYTES = 20 * 1024 * 1024
STORAGE_DIR = "imports"
AUDIT_VERB = "customers.import"
AUDIT_VERB_FAILED = "customers.import_failed"

ERR_NOT_ALLOWED = _(
    "Only sales managers, sales directors, marketing and administrators may import customers."
)
ERR_FILE_TYPE = _("Upload a .csv or .xlsx file.")
ERR_FILE_EMPTY = _("The file has no header row.")
ERR_FILE_NO_ROWS = _("The file has a header row but no data rows.")
ERR_FILE_UNREADABLE = _("The file could not be read: %(error)s")
ERR_FILE_TOO_BIG = _("The file is too large: at most %(max)s rows per import.")
ERR_FILE_BYTES = _("The file is too large: at most 20 MB per import.")
ERR_MISSING_COLUMN = _("Required column “%(column)s” is missing from the header row.")
ERR_DOUBLE_COLUMN = _("Column “%(column)s” appears twice in the header row.")
ERR_NAME_REQUIRED = _("The customer name is empty.")
ERR_BAD_CHOICE = _("“%(value)s” is not a valid %(column)s.")
ERR_UNKNOWN_OWNER = _("Unknown owner “%(value)s”: no active person with this username that you can see.")
ERR_DUP_DB = _("Already exists: %(names)s.")
ERR_DUP_FILE_CODE = _("Same credit code as row %(row)s.")
ERR_DUP_FILE_NAME = _("Same customer name as row %(row)s.")
ERR_CONTACT_NAME = _("Contact phone, title or email given without a contact name.")
ERR_BAD_EMAIL = _("“%(value)s” is not a valid email address.")
ERR_BAD_BOOL = _("“%(value)s” is not yes or no.")
ERR_NOT_VALID = _("The file has rows with errors; nothing was imported.")
ERR_COMMIT_FAILED = _("Row %(row)s failed while importing, so nothing was imported: %(error)s")

STATUS_CREATE = "create"
STATUS_ERROR = "error"

TRUE_WORDS = {"1", "y", "yes", "true", "是", "对", "√", "✓", "重点", "x"}
FALSE_WORDS = {"", "0", "n", "no", "false", "否", "不是", "非"}
TAG_SPLIT = re.compile(r"[,，;；、|]+")


@dataclass(frozen=True)
class ImportColumn:
    """One column of the import file: the field it fills and the header names it is known by."""

    key: str
    label: Any  # lazy English label; its Chinese translation is the template's header
    aliases: tuple[str, ...] = ()
    required: bool = False
    help: Any = ""

    @property
    def header(self) -> str:
        """The Chinese header name the template uses (the first alias)."""
        return self.aliases[0] if self.aliases else self.key


COLUMNS: tuple[ImportColumn, ...] = (
    ImportColumn(
        "legal_name",
        _("Customer name"),
        ("客户名称", "客户全称", "公司名称", "名称", "legal_name", "name", "legal name", "company"),
        True,
        _("Full registered company name."),
    ),
    ImportColumn("short_name", _("Short name"), ("简称", "客户简称", "short_name", "short name")),
    ImportColumn(
        "credit_code",
        _("Unified social credit code"),
        ("统一社会信用代码", "信用代码", "credit_code", "credit code", "uscc"),
        help=_("18 characters; the check digit is verified."),
    ),
    ImportColumn("industry", _("Industry"), ("行业", "industry"), help=_("Chinese or English label.")),
    ImportColumn("province", _("Province"), ("省份", "省", "province")),
    ImportColumn("city", _("City"), ("城市", "市", "city")),
    ImportColumn("address", _("Address"), ("地址", "详细地址", "address")),
    ImportColumn("size", _("Size"), ("规模", "企业规模", "size")),
    ImportColumn("status", _("Status"), ("状态", "客户状态", "status"), help=_("Empty means prospect.")),
    ImportColumn("source", _("Source"), ("来源", "客户来源", "source"), help=_("Empty means file import.")),
    ImportColumn(
        "owner",
        _("Owner username"),
        ("负责人", "负责人用户名", "owner", "owner username", "owner_username"),
        help=_("Empty: assigned by the territory rules, or left in the pool."),
    ),
    ImportColumn(
        "is_key_account",
        _("Key account"),
        ("重点客户", "key account", "is_key_account", "key_account"),
        help=_("是/否 or yes/no."),
    ),
    ImportColumn("tags", _("Tags"), ("标签", "tags"), help=_("Separated by commas.")),
    ImportColumn(
        "contact_name", _("Contact"), ("联系人", "联系人姓名", "contact", "contact name", "contact_name")
    ),
    ImportColumn(
        "contact_phone",
        _("Contact phone"),
        ("联系人电话", "联系电话", "电话", "手机", "contact phone", "contact_phone", "phone"),
    ),
    ImportColumn(
        "contact_title", _("Contact title"), ("联系人职务", "职务", "contact title", "contact_title", "title")
    ),
    ImportColumn(
        "contact_email", _("Contact email"), ("联系人邮箱", "邮箱", "contact email", "contact_email", "email")
    ),
)
COLUMN_BY_KEY = {c.key: c for c in COLUMNS}
CHOICE_COLUMNS = {
    "industry": Industry,
    "size": CompanySize,
    "status": CustomerStatus,
    "source": CustomerSource,
}
#: The Chinese words people type in these columns (the first is what the template shows), besides the
#: values and their labels in both languages.
CHOICE_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "industry": {
        "construction": ("建筑施工", "建筑", "建筑工程", "施工"),
        "mining": ("矿山", "采矿", "矿业"),
        "ports": ("港口物流", "港口", "物流"),
        "energy": ("能源电力", "能源", "电力"),
        "rail": ("轨道交通", "铁路", "地铁"),
        "marine": ("船舶海工", "船舶", "海工"),
        "municipal": ("市政公用", "市政"),
        "manufacturing": ("制造业", "制造"),
        "rental": ("设备租赁", "租赁"),
        "agriculture": ("农业",),
        "other": ("其他", "其它"),
    },
    "size": {
        "small": ("小型", "小"),
        "medium": ("中型", "中"),
        "large": ("大型", "大"),
        "giant": ("特大型", "超大型", "特大"),
    },
    "status": {
        "prospect": ("潜在客户", "潜在", "意向客户"),
        "active": ("活跃", "合作中", "成交客户"),
        "dormant": ("休眠", "沉睡"),
        "lost": ("流失", "已流失"),
    },
    "source": {
        "self": ("自主开发", "自主"),
        "referral": ("转介绍", "推荐"),
        "exhibition": ("展会",),
        "campaign": ("市场活动", "活动"),
        "website": ("官网", "网站"),
        "tender": ("招投标", "公开招标", "招标"),
        "erp": ("ERP",),
        "import": ("文件导入", "导入"),
        "other": ("其他", "其它"),
    },
}


def _header_key(text: Any) -> str:
    return re.sub(r"[\s*＊_:：()（）]+", "", str(text or "")).lower()


def _build_aliases() -> dict[str, str]:
    aliases: dict[str, str] = {}
    for col in COLUMNS:
        names = {col.key, *col.aliases, str(col.label)}
        with override("zh-hans"):
            names.add(str(col.label))
        for name in names:
            aliases.setdefault(_header_key(name), col.key)
    return aliases


def _build_choice_lookup() -> dict[str, dict[str, str]]:
    lookup: dict[str, dict[str, str]] = {}
    for key, choices in CHOICE_COLUMNS.items():
        table: dict[str, str] = {}
        for value, label in choices.choices:
            table[_header_key(value)] = value
            for word in CHOICE_WORDS.get(key, {}).get(value, ()):
                table[_header_key(word)] = value
            for lang in ("en", "zh-hans"):
                with override(lang):
                    table[_header_key(str(label))] = value
                    # "Small (< 100 staff)" / "小型（100人以下）": the part before the bracket also counts.
                    table[_header_key(re.split(r"[(（]", str(label))[0])] = value
        lookup[key] = table
    return lookup


def can_import(user: Any) -> bool:
    """Sales managers, sales directors, marketing and administrators may import customers."""
    return user_has_role(user, *IMPORT_ROLES)


# --- reading the file -------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030 (a superset of GBK, what Chinese Excel saves)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value).strip()


def read_table(data: bytes, filename: str) -> list[list[str]]:
    """All rows (header first) of a .csv or .xlsx file as lists of stripped strings."""
    name = (filename or "").lower()
    if len(data) > MAX_BYTES:
        raise ValidationError(ERR_FILE_BYTES, code="too_big")
    try:
        if name.endswith(".xlsx"):
            from openpyxl import load_workbook

            wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            try:
                ws = wb.worksheets[0]
                rows = []
                for raw in ws.iter_rows(values_only=True):
                    rows.append([_cell(v) for v in raw])
                    if len(rows) > MAX_ROWS + 1:
                        break
            finally:
                wb.close()
        elif name.endswith(".csv") or name.endswith(".txt"):
            rows = [[_cell(v) for v in r] for r in csv.reader(io.StringIO(_decode(data), newline=""))]
        else:
            raise ValidationError(ERR_FILE_TYPE, code="type")
    except ValidationError:
        raise
    except Exception as exc:  # a corrupt xlsx or a broken CSV is a file error, not a 500
        raise ValidationError(
            ERR_FILE_UNREADABLE, code="unreadable", params={"error": str(exc)[:200]}
        ) from exc
    # Trailing blank lines (Excel leaves plenty) are not rows.
    while rows and not any(rows[-1]):
        rows.pop()
    return rows


# --- checking ---------------------------------------------------------------------------------


@dataclass
class RowResult:
    """What the import does with one data row (``number`` counts the header as row 1, like Excel)."""

    number: int
    status: str
    messages: list[str] = field(default_factory=list)
    name: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    customer_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.status != STATUS_ERROR


@dataclass
class ImportReport:
    """The outcome of a preview or a commit: file-level errors, per-row results and counts."""

    filename: str = ""
    file_errors: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    rows: list[RowResult] = field(default_factory=list)
    committed: bool = False
    created: int = 0

    @property
    def error_rows(self) -> list[RowResult]:
        return [r for r in self.rows if not r.ok]

    @property
    def ok_count(self) -> int:
        return sum(1 for r in self.rows if r.ok)

    @property
    def error_count(self) -> int:
        return len(self.rows) - self.ok_count

    @property
    def is_valid(self) -> bool:
        return not self.file_errors and bool(self.rows) and self.error_count == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "valid": self.is_valid,
            "committed": self.committed,
            "rows": len(self.rows),
            "ok": self.ok_count,
            "errors": self.error_count,
            "created": self.created,
            "file_errors": list(self.file_errors),
            "ignored_columns": list(self.ignored_columns),
            "results": [
                {
                    "row": r.number,
                    "status": r.status,
                    "name": r.name,
                    "messages": list(r.messages),
                    "customer_id": r.customer_id,
                }
                for r in self.rows
            ],
        }


def _owners(actor: Any, usernames: Iterable[str]) -> dict[str, Any]:
    """Active people the importer can see, by lower-cased username."""
    from steelyard.org.models import User

    names = sorted({n for u in usernames if u for n in (u, u.lower())})
    qs = User.objects.visible_to(actor).filter(is_active=True).select_related("org_unit")
    found: dict[str, Any] = {}
    for i in range(0, len(names), 500):  # chunks stay under SQLite's parameter limit
        for user in qs.filter(username__in=names[i : i + 500]):
            found[user.username.lower()] = user
    return found


def _bool(value: str) -> bool | None:
    v = value.strip().lower()
    if v in TRUE_WORDS:
        return True
    if v in FALSE_WORDS:
        return False
    return None


def _map_header(header: Sequence[str], report: ImportReport) -> dict[int, str]:
    aliases = _build_aliases()
    mapping: dict[int, str] = {}
    seen: dict[str, str] = {}
    for index, title in enumerate(header):
        if not title:
            continue
        key = aliases.get(_header_key(title))
        if key is None:
            report.ignored_columns.append(title)
            continue
        if key in seen:
            report.file_errors.append(str(ERR_DOUBLE_COLUMN % {"column": title}))
            continue
        seen[key] = title
        mapping[index] = key
    for col in COLUMNS:
        if col.required and col.key not in seen:
            report.file_errors.append(str(ERR_MISSING_COLUMN % {"column": f"{col.header} / {col.key}"}))
    report.columns = [COLUMN_BY_KEY[k].key for k in mapping.values()]
    return mapping


def _check_row(
    number: int, raw: dict[str, str], choices: dict[str, dict[str, str]], owners: dict[str, Any]
) -> RowResult:
    row = RowResult(number=number, status=STATUS_CREATE, name=raw.get("legal_name", ""))
    msgs = row.messages
    fields: dict[str, Any] = {}
    name = raw.get("legal_name", "").strip()
    if not name:
        msgs.append(str(ERR_NAME_REQUIRED))
    fields["legal_name"] = name
    for key in ("short_name", "province", "city", "address"):
        if raw.get(key):
            fields[key] = raw[key][: _max_length(key)]
    code = normalize_credit_code(raw.get("credit_code", ""))
    if code:
        try:
            validate_credit_code(code)
        except ValidationError as e:
            msgs.extend(f"{_label('credit_code')}: {m}" for m in e.messages)
        fields["credit_code"] = code
    for key, table in choices.items():
        value = raw.get(key, "")
        if not value:
            continue
        found = table.get(_header_key(value))
        if found is None:
            msgs.append(str(ERR_BAD_CHOICE % {"value": value, "column": _label(key)}))
        else:
            fields[key] = found
    fields.setdefault("source", CustomerSource.IMPORT)
    if raw.get("is_key_account"):
        flag = _bool(raw["is_key_account"])
        if flag is None:
            msgs.append(str(ERR_BAD_BOOL % {"value": raw["is_key_account"]}))
        else:
            fields["is_key_account"] = flag
    owner_name = raw.get("owner", "").strip()
    owner = None
    if owner_name:
        owner = owners.get(owner_name.lower())
        if owner is None:
            msgs.append(str(ERR_UNKNOWN_OWNER % {"value": owner_name}))
    tags = [t.strip()[:40] for t in TAG_SPLIT.split(raw.get("tags", "")) if t.strip()]
    contact: dict[str, str] = {}
    cname = raw.get("contact_name", "").strip()
    if cname:
        contact = {"name": cname[:60]}
        for src, dst, size in (
            ("contact_phone", "phone", 30),
            ("contact_title", "title", 80),
            ("contact_email", "email", 254),
        ):
            if raw.get(src):
                contact[dst] = raw[src][:size]
        if contact.get("email"):
            try:
                validate_email(contact["email"])
            except ValidationError:
                msgs.append(str(ERR_BAD_EMAIL % {"value": contact["email"]}))
    elif any(raw.get(k) for k in ("contact_phone", "contact_title", "contact_email")):
        msgs.append(str(ERR_CONTACT_NAME))
    row.values = {"fields": fields, "owner": owner, "tags": tags, "contacts": [contact] if contact else []}
    return row


_MAX_LENGTHS: dict[str, int] = {}


def _max_length(key: str) -> int:
    from steelyard.customers.models import Customer

    if key not in _MAX_LENGTHS:
        _MAX_LENGTHS[key] = Customer._meta.get_field(key).max_length or 200
    return _MAX_LENGTHS[key]


def _label(key: str) -> str:
    return str(COLUMN_BY_KEY[key].label)


def _check_duplicates(rows: list[RowResult]) -> None:
    """Duplicates within the file (the later row names the earlier one) and against the database."""
    from steelyard.customers.selectors.customers import customer_duplicates

    by_code: dict[str, int] = {}
    by_name: dict[str, int] = {}
    for row in rows:
        fields = row.values.get("fields", {})
        code, key = fields.get("credit_code", ""), name_key(fields.get("legal_name", ""))
        if code:
            if code in by_code:
                row.messages.append(str(ERR_DUP_FILE_CODE % {"row": by_code[code]}))
            else:
                by_code[code] = row.number
        if key:
            if key in by_name:
                row.messages.append(str(ERR_DUP_FILE_NAME % {"row": by_name[key]}))
            else:
                by_name[key] = row.number
        if not fields.get("legal_name"):
            continue
        dups = customer_duplicates(
            legal_name=fields["legal_name"],
            credit_code=code,
            phones=[c.get("phone", "") for c in row.values.get("contacts", [])],
        )
        if dups:
            names = ", ".join(f"{c.legal_name} (#{c.pk})" for c in dups[:3])
            row.messages.append(str(ERR_DUP_DB % {"names": names}))


def import_preview(*, actor: Any, data: bytes, filename: str) -> ImportReport:
    """Parse and check every row of the file without writing anything."""
    if not can_import(actor):
        raise PermissionDenied(str(ERR_NOT_ALLOWED))
    report = ImportReport(filename=filename)
    try:
        table = read_table(data, filename)
    except ValidationError as e:
        report.file_errors.extend(e.messages)
        return report
    if not table or not any(table[0]):
        report.file_errors.append(str(ERR_FILE_EMPTY))
        return report
    header, body = table[0], table[1:]
    if len(body) > MAX_ROWS:
        report.file_errors.append(str(ERR_FILE_TOO_BIG % {"max": MAX_ROWS}))
        return report
    mapping = _map_header(header, report)
    if report.file_errors:
        return report
    if not any(any(r) for r in body):
        report.file_errors.append(str(ERR_FILE_NO_ROWS))
        return report
    raws: list[tuple[int, dict[str, str]]] = []
    for offset, cells in enumerate(body):
        if not any(cells):
            continue
        raws.append((offset + 2, {key: cells[i] if i < len(cells) else "" for i, key in mapping.items()}))
    owners = _owners(actor, (r.get("owner", "").strip() for _n, r in raws))
    choices = _build_choice_lookup()
    report.rows = [_check_row(n, raw, choices, owners) for n, raw in raws]
    _check_duplicates(report.rows)
    for row in report.rows:
        if row.messages:
            row.status = STATUS_ERROR
    return report


# --- committing -------------------------------------------------------------------------------


class _ImportFailed(Exception):
    """Raised inside the import transaction to roll every row back."""


def _tags(names: Iterable[str], cache: dict[str, Tag]) -> list[Tag]:
    out = []
    for name in names:
        if name not in cache:
            cache[name], _created = Tag.objects.get_or_create(name=name)
        out.append(cache[name])
    return out


def import_commit(*, actor: Any, data: bytes, filename: str) -> ImportReport:
    """Create every customer of the file in one transaction, or nothing at all.

    The file is checked again first (the database may have changed since the preview). A row that
    fails while creating (a duplicate that appeared meanwhile, a constraint) rolls the whole import
    back; the report then carries that row's error and ``committed`` stays False.
    """
    from steelyard.customers.services.customers import customer_create

    report = import_preview(actor=actor, data=data, filename=filename)
    if not report.is_valid:
        return report
    total = len(report.rows)
    tag_cache: dict[str, Tag] = {}
    try:
        with transaction.atomic():
            for i, row in enumerate(report.rows):
                values = row.values
                try:
                    with transaction.atomic():
                        customer = customer_create(
                            actor=actor,
                            owner=values["owner"],
                            assign=values["owner"] is None,
                            contacts=values["contacts"],
                            tags=_tags(values["tags"], tag_cache),
                            **values["fields"],
                        )
                except Exception as exc:  # any failure of any row rolls the whole import back
                    messages = getattr(exc, "messages", None) or [str(exc)]
                    row.status = STATUS_ERROR
                    row.messages.append(
                        str(ERR_COMMIT_FAILED % {"row": row.number, "error": "; ".join(map(str, messages))})
                    )
                    raise _ImportFailed from exc
                row.customer_id = customer.pk
                job_progress(i + 1, total)
            audit_record(
                actor=actor,
                action="action",
                verb=AUDIT_VERB,
                object_repr=filename[:200],
                extra={"filename": filename, "rows": total, "created": total},
            )
    except _ImportFailed:
        for row in report.rows:
            row.customer_id = None
        audit_record(
            actor=actor,
            action="action",
            verb=AUDIT_VERB_FAILED,
            object_repr=filename[:200],
            extra={
                "filename": filename,
                "rows": total,
                "created": 0,
                "failed_row": next((r.number for r in report.rows if not r.ok), None),
            },
        )
        return report
    report.committed = True
    report.created = total
    return report


def import_store(*, data: bytes, filename: str) -> str:
    """Keep an uploaded file under ``imports/`` for a later step (preview page, job); returns its path."""
    ext = ".xlsx" if filename.lower().endswith(".xlsx") else ".csv"
    return default_storage.save(f"{STORAGE_DIR}/{uuid.uuid4().hex}{ext}", ContentFile(data))


def import_load(path: str) -> bytes:
    if not path.startswith(f"{STORAGE_DIR}/") or ".." in path:
        raise ValidationError(ERR_FILE_TYPE, code="path")
    with default_storage.open(path, "rb") as fh:
        return fh.read()


@task
def import_commit_job(*, actor_id: int, path: str, filename: str) -> dict[str, Any]:
    """The background commit of a large file: the same all-or-nothing import, with a progress bar."""
    from steelyard.org.models import User

    actor = User.objects.get(pk=actor_id)
    report = import_commit(actor=actor, data=import_load(path), filename=filename)
    result = report.as_dict()
    # The job page shows the result: keep it short (errors only).
    result["results"] = [r for r in result["results"] if r["status"] == STATUS_ERROR][:200]
    return result


def report_csv(report: ImportReport) -> str:
    """The per-row report as CSV text (row, status, customer, messages), file errors first."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_("Row"), _("Status"), _("Customer"), _("Messages")])
    for msg in report.file_errors:
        writer.writerow(["", STATUS_ERROR, "", msg])
    for row in report.rows:
        writer.writerow([row.number, row.status, row.name, " | ".join(row.messages)])
    return out.getvalue()


_EXAMPLE_CODE = "91310115MA1H7XXX0"


def template_xlsx() -> bytes:
    """The import template: one header row (Chinese names) and one example row."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from steelyard.customers.validators import credit_code_check_char

    wb = Workbook()
    ws = wb.active
    ws.title = "客户导入"
    with override("zh-hans"):
        ws.append([c.header + ("*" if c.required else "") for c in COLUMNS])
        example = {
            "legal_name": "示例建设工程有限公司",
            "short_name": "示例建设",
            "credit_code": _EXAMPLE_CODE + credit_code_check_char(_EXAMPLE_CODE),
            "industry": CHOICE_WORDS["industry"]["construction"][0],
            "province": "上海",
            "city": "上海",
            "address": "浦东新区示例路1号",
            "size": CHOICE_WORDS["size"]["large"][0],
            "status": CHOICE_WORDS["status"]["prospect"][0],
            "source": CHOICE_WORDS["source"]["exhibition"][0],
            "owner": "",
            "is_key_account": "否",
            "tags": "央企,塔机",
            "contact_name": "张伟",
            "contact_phone": "13800138000",
            "contact_title": "设备部经理",
            "contact_email": "zhangwei@example.com",
        }
    ws.append([example[c.key] for c in COLUMNS])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for i, col in enumerate(COLUMNS):
        ws.column_dimensions[chr(ord("A") + i)].width = (
            22 if col.key in ("legal_name", "credit_code", "address") else 14
        )
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
