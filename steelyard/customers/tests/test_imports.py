"""Customer import: CSV (UTF-8, UTF-8 with BOM, GBK) and xlsx; preview with row errors; all-or-nothing commit."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils.translation import gettext, override

from steelyard.core.models import AuditLog, Job
from steelyard.customers.models import Contact, Customer
from steelyard.customers.services import imports as services
from steelyard.customers.testing import make_customer, valid_credit_code

pytestmark = pytest.mark.django_db

HEADER_ZH = [
    "客户名称",
    "简称",
    "统一社会信用代码",
    "行业",
    "省份",
    "城市",
    "规模",
    "状态",
    "负责人",
    "重点客户",
    "标签",
    "联系人",
    "联系人电话",
    "联系人职务",
    "联系人邮箱",
]


def _rows(owner: str = "alice", n: int = 3, start: int = 1000) -> list[list[str]]:
    return [
        [
            f"上海导入测试{i}号建设有限公司",
            f"导入{i}",
            valid_credit_code(start + i),
            "建筑施工" if i % 2 else "Construction",
            "上海",
            "上海",
            "大型",
            "潜在客户" if i % 2 else "Prospect",
            owner,
            "是" if i == 0 else "否",
            "央企，塔机",
            f"联系人{i}",
            f"1380013{start + i:04d}",
            "设备部经理",
            f"c{i}@example.com",
        ]
        for i in range(n)
    ]


def _csv(header: list[str], rows: list[list[str]], encoding: str = "utf-8-sig") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def _xlsx(header: list[str], rows: list[list[str]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(header)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _counts() -> tuple[int, int]:
    return Customer.objects.count(), Contact.objects.count()


@pytest.fixture(autouse=True)
def _labels_in_chinese() -> Any:
    # The choice labels in the files are Chinese; the lookup tables accept both languages anyway.
    with override("zh-hans"):
        yield


@pytest.mark.parametrize(
    ("encoding", "kind"), [("utf-8-sig", "csv"), ("utf-8", "csv"), ("gbk", "csv"), (None, "xlsx")]
)
def test_it_imports_customers_and_contacts_with_owners(personas, encoding, kind):
    data = _xlsx(HEADER_ZH, _rows()) if kind == "xlsx" else _csv(HEADER_ZH, _rows(), encoding)
    report = services.import_commit(actor=personas.bob, data=data, filename=f"customers.{kind}")
    assert report.committed, report.as_dict()
    assert report.created == 3
    customers = list(Customer.objects.order_by("legal_name"))
    assert [c.owner for c in customers] == [personas.alice] * 3
    first = customers[0]
    assert first.legal_name == "上海导入测试0号建设有限公司"
    assert first.industry == "construction" and first.size == "large" and first.status == "prospect"
    assert first.is_key_account and first.source == "import"
    assert sorted(first.tags.values_list("name", flat=True)) == ["塔机", "央企"]
    contact = first.contacts.get()
    assert (contact.name, contact.title, contact.email) == ("联系人0", "设备部经理", "c0@example.com")
    audit = AuditLog.objects.get(verb=services.AUDIT_VERB)
    assert audit.extra["created"] == 3


def test_it_accepts_english_headers_and_labels(personas):
    header = ["legal_name", "credit_code", "industry", "status", "owner", "contact", "contact phone"]
    rows = [["Acme Cranes Ltd", valid_credit_code(77), "Mining", "Active", "alice", "Li Lei", "13900001111"]]
    report = services.import_commit(actor=personas.bob, data=_csv(header, rows, "utf-8"), filename="en.csv")
    assert report.committed, report.as_dict()
    c = Customer.objects.get()
    assert (c.industry, c.status, c.owner) == ("mining", "active", personas.alice)


def test_it_fails_the_whole_file_when_a_required_column_is_missing(personas):
    header = [h for h in HEADER_ZH if h != "客户名称"]
    rows = [r[1:] for r in _rows()]
    report = services.import_preview(actor=personas.bob, data=_csv(header, rows), filename="x.csv")
    assert not report.is_valid and not report.rows
    assert len(report.file_errors) == 1 and "客户名称" in report.file_errors[0]
    assert (
        services.import_commit(actor=personas.bob, data=_csv(header, rows), filename="x.csv").committed
        is False
    )
    assert _counts() == (0, 0)


def test_it_reports_row_errors_and_writes_nothing(personas):
    existing = make_customer(personas.alice, name="已存在重工有限公司", credit_code=valid_credit_code(5000))
    before = _counts()
    rows = _rows(n=6)
    rows[0][2] = rows[0][2][:-1] + ("0" if rows[0][2][-1] != "0" else "1")  # bad check digit
    rows[1][8] = "charlie"  # exists, but bob cannot see him
    rows[2][8] = "nobody"
    rows[3][0] = "已存在重工股份有限公司"  # same normalised name as the existing customer
    rows[4][2] = rows[5][2]  # same credit code twice in the file
    data = _csv(HEADER_ZH, rows)
    report = services.import_preview(actor=personas.bob, data=data, filename="bad.csv")
    by_row = {r.number: r for r in report.rows}
    assert report.error_count == 5 and report.ok_count == 1
    with override("zh-hans"):
        assert any("校验" in m or "check" in m for m in by_row[2].messages), by_row[2].messages
    assert any("charlie" in m for m in by_row[3].messages)
    assert any("nobody" in m for m in by_row[4].messages)
    assert any(str(existing.pk) in m for m in by_row[5].messages)
    # Row 7 (file row 7) repeats the code of row 6? No: row index 4 is file row 6, index 5 file row 7.
    assert any("7" in m for m in by_row[6].messages) or any("6" in m for m in by_row[7].messages)
    committed = services.import_commit(actor=personas.bob, data=data, filename="bad.csv")
    assert not committed.committed
    assert _counts() == before
    assert not AuditLog.objects.filter(verb=services.AUDIT_VERB).exists()


def test_it_reports_a_duplicate_name_within_the_file(personas):
    rows = _rows(n=2)
    rows[1][0] = rows[0][0].replace("有限公司", "股份有限公司")
    report = services.import_preview(actor=personas.bob, data=_csv(HEADER_ZH, rows), filename="d.csv")
    assert report.rows[0].ok and not report.rows[1].ok
    with override("zh-hans"):
        expected = gettext("Same customer name as row %(row)s.") % {"row": 2}
    assert expected in report.rows[1].messages


def test_it_rolls_everything_back_when_a_row_fails_at_commit_time(personas, monkeypatch):
    from steelyard.customers.services import customers as customer_services

    real = customer_services.customer_create
    calls = {"n": 0}

    def flaky(**kwargs: Any) -> Customer:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk on fire")
        return real(**kwargs)

    monkeypatch.setattr(customer_services, "customer_create", flaky)
    report = services.import_commit(actor=personas.bob, data=_csv(HEADER_ZH, _rows(n=5)), filename="f.csv")
    assert not report.committed
    assert _counts() == (0, 0)
    failed = [r for r in report.rows if not r.ok]
    assert [r.number for r in failed] == [4]
    assert "disk on fire" in failed[0].messages[0]
    assert AuditLog.objects.filter(verb=services.AUDIT_VERB_FAILED).exists()


def test_it_refuses_reps(personas, client_for):
    alice = client_for(personas.alice)
    assert alice.get(reverse("customer_import")).status_code == 403
    assert alice.get(reverse("customer_import_template")).status_code == 403
    f = SimpleUploadedFile("c.csv", _csv(HEADER_ZH, _rows()), content_type="text/csv")
    r = alice.post("/api/v1/customers/import/customers", {"file": f})
    assert r.status_code == 403
    assert _counts() == (0, 0)


def test_it_lets_the_outsider_import_only_with_owners_they_can_see(personas, client_for):
    # charlie is a rep: refused. The administrator sees everyone: charlie as owner is fine for them.
    assert client_for(personas.charlie).get(reverse("customer_import")).status_code == 403
    report = services.import_commit(
        actor=personas.admin, data=_csv(HEADER_ZH, _rows(owner="charlie", n=1)), filename="a.csv"
    )
    assert report.committed
    assert Customer.objects.get().owner == personas.charlie


def test_it_previews_commits_and_reports_through_the_pages(personas, client_for):
    bob = client_for(personas.bob)
    page = bob.get(reverse("customer_import"))
    assert page.status_code == 200
    assert reverse("customer_import_template") in page.content.decode()
    template = bob.get(reverse("customer_import_template"))
    assert template.status_code == 200
    # The template itself is a valid (empty but for the example row) import file.
    example = services.import_preview(actor=personas.bob, data=template.content, filename="t.xlsx")
    assert not example.file_errors and example.ok_count == 1

    f = SimpleUploadedFile("c.csv", _csv(HEADER_ZH, _rows()), content_type="text/csv")
    r = bob.post(reverse("customer_import"), {"file": f})
    assert r.status_code == 302
    preview_url = r["Location"]
    preview = bob.get(preview_url)
    assert preview.status_code == 200
    assert (
        b"data-import-commit" in preview.content
        and b"disabled" not in preview.content.split(b"data-import-commit")[0].rsplit(b"<button", 1)[1]
    )
    assert _counts() == (0, 0)
    token = preview_url.rstrip("/").rsplit("/", 1)[1]
    report = bob.get(reverse("customer_import_report", args=[token]))
    assert report.status_code == 200 and report["Content-Type"].startswith("text/csv")
    # Another user cannot reach bob's upload.
    assert client_for(personas.dora).get(preview_url).status_code == 404
    done = bob.post(reverse("customer_import_commit", args=[token]))
    assert done.status_code == 200
    assert b"data-import-done" in done.content
    assert _counts() == (3, 3)


def test_it_disables_import_when_rows_have_errors(personas, client_for):
    bob = client_for(personas.bob)
    f = SimpleUploadedFile("c.csv", _csv(HEADER_ZH, _rows(owner="nobody")), content_type="text/csv")
    preview = bob.get(bob.post(reverse("customer_import"), {"file": f})["Location"])
    html = preview.content.decode()
    assert "data-import-commit" in html
    button = html.split("data-import-commit")[0].rsplit("<button", 1)[1]
    assert "disabled" in button
    assert html.count('data-row="') == 3


def test_it_commits_big_files_in_a_background_job(personas, client_for, monkeypatch):
    monkeypatch.setattr(services, "JOB_THRESHOLD", 2)
    bob = client_for(personas.bob)
    f = SimpleUploadedFile("c.csv", _csv(HEADER_ZH, _rows()), content_type="text/csv")
    preview_url = bob.post(reverse("customer_import"), {"file": f})["Location"]
    token = preview_url.rstrip("/").rsplit("/", 1)[1]
    r = bob.post(reverse("customer_import_commit", args=[token]))
    assert r.status_code == 302
    job = Job.objects.get()
    assert r["Location"] == reverse("job_detail", args=[job.pk])
    assert job.status == "SUCCESSFUL", job.error
    assert job.result["created"] == 3
    assert _counts() == (3, 3)


def test_it_answers_the_api_with_row_results(personas, client_for):
    bob = client_for(personas.bob)
    bad = _rows(owner="nobody", n=2)
    f = SimpleUploadedFile("c.csv", _csv(HEADER_ZH, bad), content_type="text/csv")
    r = bob.post("/api/v1/customers/import/customers/preview", {"file": f})
    assert r.status_code == 200
    body = r.json()
    assert body["errors"] == 2 and [x["row"] for x in body["results"]] == [2, 3]
    f = SimpleUploadedFile("c.csv", _csv(HEADER_ZH, bad), content_type="text/csv")
    r = bob.post("/api/v1/customers/import/customers", {"file": f})
    assert r.status_code == 400 and r.json()["created"] == 0
    assert _counts() == (0, 0)
    f = SimpleUploadedFile("c.xlsx", _xlsx(HEADER_ZH, _rows()), content_type="application/octet-stream")
    r = bob.post("/api/v1/customers/import/customers", {"file": f})
    assert r.status_code == 201, r.content
    assert r.json()["created"] == 3
    assert _counts() == (3, 3)


def test_it_rejects_unknown_file_types_and_empty_files(personas):
    report = services.import_preview(actor=personas.bob, data=b"hello", filename="x.pdf")
    assert report.file_errors and not report.rows
    report = services.import_preview(actor=personas.bob, data=b"", filename="x.csv")
    assert report.file_errors
    report = services.import_preview(actor=personas.bob, data=_csv(HEADER_ZH, []), filename="x.csv")
    assert report.file_errors


def test_it_checks_a_big_preview_in_bounded_queries(personas, django_assert_max_num_queries):
    data = _csv(HEADER_ZH, _rows(n=50))
    # One duplicate lookup per row plus a handful of fixed queries (roles, owners).
    with django_assert_max_num_queries(60):
        report = services.import_preview(actor=personas.bob, data=data, filename="big.csv")
    assert report.ok_count == 50
