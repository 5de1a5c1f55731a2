"""Helpers for the file import tests: importers, systems, files built in memory, running an import."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from steelyard.integrations.models import FileImport
from steelyard.integrations.services import imports as services
from steelyard.org.models import Role

CUSTOMER_HEADER = ["external_id", "version", "legal_name", "credit_code", "city"]
ORDER_HEADER = [
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


def give_role(user: Any, code: str = "finance") -> Any:
    user.roles.add(Role.objects.get(code=code))
    user.__dict__.pop("_role_codes", None)  # user_has_role caches the codes on the instance
    return user


def csv_bytes(header: list[str], rows: list[list[Any]], encoding: str = "utf-8-sig") -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(header)
    w.writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(header: list[str], rows: list[list[Any]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(header)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def upload(actor: Any, system: Any, entity: str, data: bytes, name: str, **kw: Any) -> FileImport:
    f = SimpleUploadedFile(name, data)
    return services.file_import_upload(actor=actor, system=system, entity=entity, upload=f, **kw)


def run(actor: Any, fi: FileImport) -> FileImport:
    """Check, then run (inline: tests run jobs at once) and return the import reloaded."""
    services.file_import_preview(actor=actor, file_import=fi)
    services.file_import_run(actor=actor, file_import=fi)
    fi.refresh_from_db()
    return fi


def customer_rows(n: int, start: int = 0) -> list[list[Any]]:
    from steelyard.customers.testing import valid_credit_code

    return [
        [f"C{i:03d}", 1, f"文件导入测试{i}号工程有限公司", valid_credit_code(7000 + i), "上海"]
        for i in range(start, start + n)
    ]


def order_rows(orders: dict[str, list[tuple[str, int, str]]], customer: str = "C000") -> list[list[Any]]:
    """{order id: [(product, qty, price), …]} → one row per line."""
    rows = []
    for ext, lines in orders.items():
        for n, (product, qty, price) in enumerate(lines, start=1):
            rows.append([ext, 1, customer, "2025-03-01", "CNY", n, product, qty, price])
    return rows
