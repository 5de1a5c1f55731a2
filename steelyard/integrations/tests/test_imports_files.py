"""File imports through the inbound engine: CSV/xlsx, grouping lines into orders, mapping, templates,
dry run, rejected rows and the error report, replays, failures and stalled runs."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from steelyard.core.models import AuditLog, Job, JobStatus
from steelyard.customers.models import Customer
from steelyard.integrations.models import (
    ExternalRecord,
    FileImport,
    FileImportStatus,
    ImportTemplate,
    InboundBatch,
    InboundResult,
)
from steelyard.integrations.services import imports as services
from steelyard.integrations.tests.imports_support import (
    CUSTOMER_HEADER,
    ORDER_HEADER,
    csv_bytes,
    customer_rows,
    give_role,
    order_rows,
    run,
    upload,
    xlsx_bytes,
)
from steelyard.orders.models import OrderLine, SalesOrder
from steelyard.orders.testing import make_product, make_system

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(personas: Any) -> Any:
    return give_role(personas.alice)


@pytest.fixture
def erp(personas: Any) -> Any:
    return make_system("erp")[0]


@pytest.fixture
def customers(alice: Any, erp: Any) -> FileImport:
    """Three customers C000–C002 sent by the ERP, imported from a CSV file."""
    fi = run(alice, upload(alice, erp, "customer", csv_bytes(CUSTOMER_HEADER, customer_rows(3)), "c.csv"))
    assert fi.status == FileImportStatus.DONE, fi.error
    return fi


@pytest.fixture
def products(personas: Any) -> list[Any]:
    return [make_product("P1", price="100"), make_product("P2", price="50")]


ORDERS = {
    "SO-1": [("P1", 1, "100.00"), ("P2", 2, "50.00")],
    "SO-2": [("P2", 3, "7.50")],
    "SO-3": [("P1", 1, "10"), ("P2", 1, "20"), ("P1", 4, "30")],
}


def _report(fi: FileImport) -> list[list[str]]:
    return list(services.error_report_rows(fi))


# --- CSV and xlsx, orders and customers --------------------------------------------------------


def test_it_imports_customers_from_csv_with_the_erp_keys(customers: FileImport, erp: Any) -> None:
    assert (customers.total, customers.created, customers.rejected) == (3, 3, 0)
    names = sorted(Customer.objects.values_list("legal_name", flat=True))
    assert names == [f"文件导入测试{i}号工程有限公司" for i in range(3)]
    assert ExternalRecord.objects.filter(system=erp, entity="customer").count() == 3
    batch = InboundBatch.objects.get(pk=customers.batch_id)
    assert (batch.via, batch.entity, batch.created) == ("file", "customer", 3)
    assert not customers.error_report


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_it_groups_the_lines_of_a_file_into_orders(
    kind: str, alice: Any, erp: Any, customers: Any, products: Any
) -> None:
    rows = order_rows(ORDERS)
    data = csv_bytes(ORDER_HEADER, rows) if kind == "csv" else xlsx_bytes(ORDER_HEADER, _typed(rows))
    fi = run(alice, upload(alice, erp, "order", data, f"orders.{kind}"))
    assert fi.status == FileImportStatus.DONE, fi.error
    assert (fi.total, fi.created, fi.updated, fi.rejected) == (6, 3, 0, 0)
    orders = {o.number: o for o in SalesOrder.objects.all()}
    assert sorted(orders) == ["SO-1", "SO-2", "SO-3"]
    so1 = orders["SO-1"]
    assert so1.customer.legal_name == "文件导入测试0号工程有限公司"
    assert so1.ordered_on == dt.date(2025, 3, 1)
    assert so1.amount == Decimal("200.00")
    lines = list(OrderLine.objects.filter(order=orders["SO-3"]).order_by("line_no"))
    assert [(ln.line_no, ln.product.code, ln.quantity, ln.unit_price) for ln in lines] == [
        (1, "P1", Decimal("1"), Decimal("10")),
        (2, "P2", Decimal("1"), Decimal("20")),
        (3, "P1", Decimal("4"), Decimal("30")),
    ]
    assert ExternalRecord.objects.filter(system=erp, entity="order").count() == 3
    assert InboundBatch.objects.get(pk=fi.batch_id).via == "file"


def _typed(rows: list[list[Any]]) -> list[list[Any]]:
    """What an ERP's Excel export holds: numbers as numbers, dates as dates."""
    return [
        [
            r[0],
            int(r[1]),
            r[2],
            dt.datetime.fromisoformat(r[3]),
            r[4],
            int(r[5]),
            r[6],
            float(r[7]),
            float(r[8]),
        ]
        for r in rows
    ]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gbk"])
def test_it_reads_csv_in_utf8_with_or_without_bom_and_gbk(encoding: str, alice: Any, erp: Any) -> None:
    fi = upload(alice, erp, "customer", csv_bytes(CUSTOMER_HEADER, customer_rows(2), encoding), "c.csv")
    fi = run(alice, fi)
    assert fi.created == 2, (fi.error, fi.preview)
    assert Customer.objects.filter(legal_name="文件导入测试1号工程有限公司").exists()


def test_a_gbk_file_is_detected_even_when_its_first_rows_are_ascii(alice: Any, erp: Any) -> None:
    rows = [[f"A{i}", 1, f"Ascii Company {i} Ltd", "", "Shanghai"] for i in range(3000)]
    rows.append(["Z1", 1, "末行中文公司有限公司", "", "上海"])
    fi = run(alice, upload(alice, erp, "customer", csv_bytes(CUSTOMER_HEADER, rows, "gbk"), "big.csv"))
    assert Customer.objects.filter(legal_name="末行中文公司有限公司").exists(), fi.error


def test_it_reads_semicolon_separated_csv(alice: Any, erp: Any) -> None:
    text = "external_id;version;legal_name\nS1;1;分号分隔有限公司\n"
    fi = run(alice, upload(alice, erp, "customer", text.encode(), "semi.csv"))
    assert fi.created == 1 and Customer.objects.filter(legal_name="分号分隔有限公司").exists()


def test_xlsx_numbers_and_dates_read_as_a_person_sees_them() -> None:
    assert services.cell_text(3.0) == "3"
    assert services.cell_text(0.1 + 0.2) == "0.3"
    assert services.cell_text(1280000.5) == "1280000.5"
    assert services.cell_text(dt.datetime(2025, 3, 1)) == "2025-03-01"
    assert services.cell_text(dt.datetime(2025, 3, 1, 9, 30)) == "2025-03-01T09:30:00"
    assert services.cell_text(None) == "" and services.cell_text(True) == "true"


# --- mapping and templates ------------------------------------------------------------------


def test_columns_match_fields_by_name_or_label_in_either_language(alice: Any, erp: Any) -> None:
    header = ["External ID", "Legal name", " version ", "Unified social credit code", "Comment"]
    mapping = services.auto_mapping("customer", header)
    assert mapping == {
        "external_id": "External ID",
        "version": " version ",
        "legal_name": "Legal name",
        "credit_code": "Unified social credit code",
    }


def test_a_required_field_without_a_column_is_refused(alice: Any, erp: Any) -> None:
    data = csv_bytes(["编号", "第几版", "公司"], [["X1", 1, "无映射有限公司"]])
    fi = upload(alice, erp, "customer", data, "odd.csv")
    assert fi.mapping == {}
    with pytest.raises(ValidationError) as exc:
        services.file_import_preview(actor=alice, file_import=fi)
    assert "external_id" in exc.value.message_dict and "legal_name" in exc.value.message_dict
    with pytest.raises(ValidationError):
        services.file_import_set_mapping(actor=alice, file_import=fi, mapping={"external_id": "编号"})
    with pytest.raises(ValidationError) as exc:
        services.file_import_set_mapping(
            actor=alice, file_import=fi, mapping={"external_id": "编号", "legal_name": "不存在的列"}
        )
    assert "legal_name" in exc.value.message_dict


def test_a_saved_template_maps_the_next_file_of_the_same_layout(alice: Any, erp: Any) -> None:
    header = ["客户编号", "版本号", "公司全称"]
    first = upload(alice, erp, "customer", csv_bytes(header, [["K1", 1, "模板一号有限公司"]]), "a.csv")
    mapping = {"external_id": "客户编号", "version": "版本号", "legal_name": "公司全称"}
    services.file_import_set_mapping(actor=alice, file_import=first, mapping=mapping)
    template = services.import_template_save(
        actor=alice, entity="customer", name="ERP 客户导出", mapping=mapping
    )
    assert AuditLog.objects.filter(verb=services.AUDIT_TEMPLATE_SAVED, object_id=str(template.pk)).exists()
    run(alice, first)
    # The next export has the same columns (in another order, one spelt with a space and a star).
    second_data = csv_bytes(["公司全称", "客户 编号*", "版本号"], [["模板二号有限公司", "K2", 1]])
    second = upload(alice, erp, "customer", second_data, "b.csv", template=template)
    assert second.mapping == {"external_id": "客户 编号*", "version": "版本号", "legal_name": "公司全称"}
    second = run(alice, second)
    assert second.created == 1 and second.template_id == template.pk
    assert Customer.objects.filter(legal_name="模板二号有限公司").exists()


def test_templates_belong_to_an_entity_and_optionally_a_system(alice: Any, erp: Any, personas: Any) -> None:
    mes = make_system("mes", kind="mes")[0]
    t = services.import_template_save(
        actor=alice,
        entity="customer",
        name="仅ERP",
        mapping={"external_id": "id", "legal_name": "n"},
        system=erp,
    )
    data = csv_bytes(["id", "n", "version"], [["Q1", "名称", 1]])
    with pytest.raises(ValidationError):
        upload(alice, mes, "customer", data, "x.csv", template=t)
    with pytest.raises(ValidationError):
        upload(alice, erp, "product", data, "x.csv", template=t)
    # The same name again overwrites the creator's own template; someone else may not.
    services.import_template_save(
        actor=alice, entity="customer", name="仅ERP", mapping={"external_id": "编号"}
    )
    assert ImportTemplate.objects.get(pk=t.pk).mapping == {"external_id": "编号"}
    charlie = give_role(personas.charlie)
    with pytest.raises(ValidationError):
        services.import_template_save(
            actor=charlie, entity="customer", name="仅ERP", mapping={"external_id": "x"}
        )
    services.import_template_delete(actor=personas.admin, template=t)
    assert not ImportTemplate.objects.filter(pk=t.pk).exists()


def test_blank_templates_carry_every_field_and_match_back(alice: Any) -> None:
    from openpyxl import load_workbook

    names = [s.name for s in services.fields_for("order")]
    header = next(csv.reader(io.StringIO(services.blank_template_csv("order").decode("utf-8-sig"))))
    assert len(header) == len(names)
    assert sorted(services.auto_mapping("order", header)) == sorted(names)
    wb = load_workbook(io.BytesIO(services.blank_template_xlsx("order")), read_only=True)
    sheet_header = list(next(wb.worksheets[0].iter_rows(values_only=True)))
    assert sheet_header == header
    notes = list(wb.worksheets[1].iter_rows(values_only=True))
    assert [r[1] for r in notes[1:]] == names


# --- dry run, rejected rows, the report ------------------------------------------------------------


def _counts() -> tuple[int, ...]:
    return (
        SalesOrder.objects.count(),
        OrderLine.objects.count(),
        ExternalRecord.objects.filter(entity="order").count(),
        InboundBatch.objects.filter(entity="order").count(),
        InboundResult.objects.count(),
    )


def _bad_orders() -> list[list[Any]]:
    rows = order_rows(ORDERS)
    rows[3][6] = "NO-SUCH"  # SO-3 line 1: an unknown product (its two other lines go with it)
    rows.append(["SO-4", 1, "C001", "not a date", "CNY", 1, "P1", 1, "1"])  # a bad date
    rows.append(["SO-1", 1, "C000", "2025-03-01", "CNY", 3, "P1", 1, "1"])  # SO-1 again, not adjacent
    rows.append(["SO-5", 1, "C002", "2025-03-02", "CNY", 1, "P2", 2, "5"])  # fine
    return rows


def test_the_check_is_a_dry_run_that_writes_nothing(
    alice: Any, erp: Any, customers: Any, products: Any
) -> None:
    before = _counts()
    fi = upload(alice, erp, "order", csv_bytes(ORDER_HEADER, _bad_orders()), "o.csv")
    preview = services.file_import_preview(actor=alice, file_import=fi)
    assert _counts() == before
    assert preview["scope"] == "all" and preview["rows_checked"] == 9
    assert preview["counts"] == {"created": 3, "updated": 0, "unchanged": 0, "rejected": 3}
    assert preview["rejected_rows"] == 5
    rows = {p["row"]: p for p in preview["problems"]}
    assert set(rows) == {5, 6, 7, 8, 9}
    assert rows[5]["field"] == "product" and "NO-SUCH" in rows[5]["message"]
    assert rows[5]["values"]["product"] == "NO-SUCH"
    assert rows[8]["field"] == "ordered_on"
    fi.refresh_from_db()
    assert fi.status == FileImportStatus.PREVIEWED


def test_a_big_file_is_checked_on_its_first_rows_and_the_whole_file_in_a_job(
    alice: Any, erp: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(services, "PREVIEW_ROWS", 5)
    rows = customer_rows(12)
    rows[9][2] = ""  # row 11: no name
    fi = upload(alice, erp, "customer", csv_bytes(CUSTOMER_HEADER, rows), "c.csv")
    preview = services.file_import_preview(actor=alice, file_import=fi, limit=services.PREVIEW_ROWS)
    assert (preview["scope"], preview["rows_checked"], preview["counts"]["rejected"]) == ("sample", 5, 0)
    job = services.file_import_check_all(actor=alice, file_import=fi)
    assert job.status == JobStatus.SUCCESSFUL, job.error
    fi.refresh_from_db()
    assert (fi.preview["scope"], fi.preview["rows_checked"], fi.total) == ("all", 12, 12)
    assert fi.preview["counts"] == {"created": 11, "updated": 0, "unchanged": 0, "rejected": 1}
    assert [p["row"] for p in fi.preview["problems"]] == [11]
    assert Customer.objects.count() == 0


def test_rejected_rows_do_not_stop_the_valid_ones_and_the_report_lists_them(
    alice: Any, erp: Any, customers: Any, products: Any
) -> None:
    fi = run(alice, upload(alice, erp, "order", csv_bytes(ORDER_HEADER, _bad_orders()), "o.csv"))
    assert fi.status == FileImportStatus.DONE, fi.error
    assert (fi.total, fi.created, fi.rejected) == (9, 3, 3)
    # SO-1's later, non-adjacent row is refused rather than guessed into SO-1.
    assert sorted(SalesOrder.objects.values_list("number", flat=True)) == ["SO-1", "SO-2", "SO-5"]
    assert OrderLine.objects.filter(order__number="SO-1").count() == 2
    report = _report(fi)
    assert len(report[0]) == 4 + len(ORDER_HEADER) and report[0][4:] == ORDER_HEADER
    by_row: dict[int, list[list[str]]] = {}
    for r in report[1:]:
        by_row.setdefault(int(r[0]), []).append(r)
    assert set(by_row) == {5, 6, 7, 8, 9}
    so3_bad = by_row[5][0]
    assert so3_bad[1:3] == ["SO-3", "product"] and "NO-SUCH" in so3_bad[3]
    assert so3_bad[4:] == ["SO-3", "1", "C000", "2025-03-01", "CNY", "1", "NO-SUCH", "1", "10"]
    assert by_row[6][0][1] == "SO-3" and "5" in by_row[6][0][3]  # rejected along with row 5
    assert by_row[8][0][2] == "ordered_on" and by_row[8][0][4 + 3] == "not a date"
    assert by_row[9][0][1:3] == ["SO-1", "external_id"]
    batch = InboundBatch.objects.get(pk=fi.batch_id)
    assert (batch.created, batch.rejected) == (3, 2)  # SO-3 and SO-4 reached the engine
    assert InboundResult.objects.filter(batch=batch, outcome="rejected").count() == 2


def test_running_the_same_file_again_changes_nothing(
    alice: Any, erp: Any, customers: Any, products: Any
) -> None:
    first = run(alice, upload(alice, erp, "order", csv_bytes(ORDER_HEADER, order_rows(ORDERS)), "o.csv"))
    stamps = dict(SalesOrder.objects.values_list("number", "updated_at"))
    before = _counts()
    again = services.file_import_rerun(actor=alice, file_import=first)
    assert again.pk != first.pk and again.status == FileImportStatus.DONE, again.error
    assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 0, 3, 0)
    assert dict(SalesOrder.objects.values_list("number", "updated_at")) == stamps
    after = _counts()
    assert after[:3] == before[:3]
    assert AuditLog.objects.filter(verb=services.AUDIT_RERUN, object_id=str(again.pk)).exists()


def test_a_file_without_versions_uses_its_upload_time_and_a_rerun_is_still_a_replay(
    alice: Any, erp: Any
) -> None:
    data = csv_bytes(["external_id", "legal_name"], [["V1", "无版本有限公司"]])
    fi = upload(alice, erp, "customer", data, "nv.csv")
    assert services.uses_upload_time_as_version(fi.mapping)
    fi = run(alice, fi)
    assert fi.created == 1, fi.preview
    again = services.file_import_rerun(actor=alice, file_import=fi)
    assert (again.unchanged, again.created, again.updated) == (1, 0, 0)


def test_upload_and_run_are_audited(alice: Any, erp: Any) -> None:
    fi = run(alice, upload(alice, erp, "customer", csv_bytes(CUSTOMER_HEADER, customer_rows(1)), "c.csv"))
    verbs = set(AuditLog.objects.filter(object_id=str(fi.pk)).values_list("verb", flat=True))
    assert {services.AUDIT_UPLOAD, services.AUDIT_RUN, services.AUDIT_DONE} <= verbs
    done = AuditLog.objects.get(verb=services.AUDIT_DONE, object_id=str(fi.pk))
    assert done.actor_id == alice.pk and done.extra["created"] == 1


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("c.pdf", b"%PDF-1.4"),
        ("c.csv", b""),
        ("c.csv", b"external_id,legal_name\n"),
        ("c.xlsx", b"this is not a zip file"),
    ],
)
def test_a_bad_file_is_a_validation_error_not_a_crash(name: str, data: bytes, alice: Any, erp: Any) -> None:
    with pytest.raises(ValidationError) as exc:
        upload(alice, erp, "customer", data, name)
    assert "file" in exc.value.message_dict
    assert FileImport.objects.count() == 0


def test_the_system_must_be_active_and_allowed_to_send_the_entity(alice: Any, erp: Any) -> None:
    data = csv_bytes(CUSTOMER_HEADER, customer_rows(1))
    erp.entities = ["order"]
    erp.save()
    with pytest.raises(ValidationError) as exc:
        upload(alice, erp, "customer", data, "c.csv")
    assert "entity" in exc.value.message_dict
    erp.entities, erp.is_active = [], False
    erp.save()
    with pytest.raises(ValidationError) as exc:
        upload(alice, erp, "customer", data, "c.csv")
    assert "system" in exc.value.message_dict


def test_only_administrators_and_finance_import(personas: Any, erp: Any) -> None:
    from django.core.exceptions import PermissionDenied

    data = csv_bytes(CUSTOMER_HEADER, customer_rows(1))
    with pytest.raises(PermissionDenied):
        upload(personas.bob, erp, "customer", data, "c.csv")
    fi = upload(personas.admin, erp, "customer", data, "c.csv")
    charlie = give_role(personas.charlie)
    with pytest.raises(PermissionDenied):
        services.file_import_run(actor=charlie, file_import=fi)


# --- failures and stalled runs -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_run_that_fails_late_writes_nothing_and_can_run_again(personas: Any, monkeypatch: Any) -> None:
    alice = give_role(personas.alice)
    erp = make_system("erp")[0]
    run(alice, upload(alice, erp, "customer", csv_bytes(CUSTOMER_HEADER, customer_rows(3)), "c.csv"))
    make_product("P1")
    make_product("P2")
    fi = upload(alice, erp, "order", csv_bytes(ORDER_HEADER, order_rows(ORDERS)), "o.csv")

    def boom(*args: Any, **kwargs: Any) -> None:  # after batch_apply wrote every order
        assert SalesOrder.objects.count() == 3
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "write_error_report", boom)
    failed = run(alice, fi)
    assert failed.status == FileImportStatus.FAILED and "disk full" in failed.error
    assert (SalesOrder.objects.count(), OrderLine.objects.count()) == (0, 0)
    assert ExternalRecord.objects.filter(entity="order").count() == 0
    assert InboundBatch.objects.filter(entity="order").count() == 0
    assert Job.objects.get(pk=failed.job_id).status == JobStatus.FAILED
    assert AuditLog.objects.filter(verb=services.AUDIT_FAILED, object_id=str(fi.pk)).exists()
    monkeypatch.undo()
    again = services.file_import_rerun(actor=alice, file_import=failed)
    assert again.status == FileImportStatus.DONE and again.created == 3
    assert SalesOrder.objects.count() == 3


def _running(fi: FileImport, **job: Any) -> Job:
    j = Job.objects.create(task_path="x.y", status=job.pop("status", JobStatus.RUNNING), **job)
    FileImport.objects.filter(pk=fi.pk).update(
        status=FileImportStatus.RUNNING, job=j, started_at=timezone.now()
    )
    fi.refresh_from_db()
    return j


def test_a_run_whose_job_died_shows_as_stopped_and_can_run_again(alice: Any, erp: Any) -> None:
    import socket

    fi = upload(alice, erp, "customer", csv_bytes(CUSTOMER_HEADER, customer_rows(1)), "c.csv")
    job = _running(fi, started_at=timezone.now(), worker_id=f"{socket.gethostname()}.{os.getpid()}")
    assert services.file_import_liveness(fi).state == "alive"
    with pytest.raises(ValidationError):
        services.file_import_rerun(actor=alice, file_import=fi)
    # The worker's process is gone.
    job.worker_id = f"{socket.gethostname()}.999999999"
    job.save()
    assert services.file_import_liveness(fi).state == "dead"
    # No worker process on this host, but no heartbeat for a long time.
    job.worker_id = "elsewhere.1"
    job.save()
    later = timezone.now() + services.STALE_AFTER + dt.timedelta(minutes=1)
    stale = services.file_import_liveness(fi, now=later)
    assert stale.state == "stale" and "16" in stale.reason
    # The job ended (failed) while the import still says running.
    job.status = JobStatus.FAILED
    job.save()
    assert services.file_import_liveness(fi).state == "dead"
    again = services.file_import_rerun(actor=alice, file_import=fi)
    fi.refresh_from_db()
    assert fi.status == FileImportStatus.FAILED and fi.error
    assert AuditLog.objects.filter(verb=services.AUDIT_STOPPED, object_id=str(fi.pk)).exists()
    assert again.status == FileImportStatus.DONE and again.created == 1


def test_progress_is_written_outside_the_transaction(alice: Any, erp: Any) -> None:
    fi = upload(alice, erp, "customer", csv_bytes(CUSTOMER_HEADER, customer_rows(1)), "c.csv")
    live = services.LiveProgress(fi.pk)
    live.set_phase(services.PHASE_IMPORTING, 10)
    live.report(4)
    live.write(force=True)
    FileImport.objects.filter(pk=fi.pk).update(status=FileImportStatus.RUNNING)
    fi.refresh_from_db()
    p = services.file_import_progress(fi)
    assert (p.phase, p.done, p.total, p.percent) == ("importing", 4, 10, 40)
    beat = services.read_progress_file(fi.pk)
    assert beat["pid"] == os.getpid()
    live.close()
    assert services.read_progress_file(fi.pk) is None
