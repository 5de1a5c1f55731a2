"""File import pages and API: the flow, who may see what (owner, manager, outsider, admin), downloads."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from steelyard.core.models import AuditLog
from steelyard.customers.models import Customer
from steelyard.integrations.models import FileImport, FileImportStatus, ImportTemplate
from steelyard.integrations.services import imports as services
from steelyard.integrations.tests.imports_support import (
    CUSTOMER_HEADER,
    csv_bytes,
    customer_rows,
    give_role,
    run,
    upload,
    xlsx_bytes,
)
from steelyard.orders.testing import make_system

pytestmark = pytest.mark.django_db


@pytest.fixture
def erp(personas: Any) -> Any:
    return make_system("erp")[0]


@pytest.fixture
def alice(personas: Any) -> Any:
    return give_role(personas.alice)


@pytest.fixture
def charlie(personas: Any) -> Any:
    return give_role(personas.charlie)


@pytest.fixture
def alices_import(alice: Any, erp: Any) -> FileImport:
    rows = customer_rows(3)
    rows[1][2] = ""  # row 3: no legal name → rejected
    return run(alice, upload(alice, erp, "customer", csv_bytes(CUSTOMER_HEADER, rows), "alice.csv"))


def _url(name: str, fi: FileImport | None = None) -> str:
    return reverse(name, args=[fi.pk]) if fi is not None else reverse(name)


# --- the flow through the pages ------------------------------------------------------------------


def test_the_whole_flow_through_the_pages(alice: Any, erp: Any, client_for: Any) -> None:
    c = client_for(alice)
    assert c.get(_url("integrations_import_list")).status_code == 200
    page = c.get(_url("integrations_import_new"))
    assert page.status_code == 200 and b"data-upload-form" in page.content
    data = csv_bytes(["编号", "版本", "公司名称"], [["W1", 1, "页面导入一号有限公司"], ["W2", 1, ""]])
    r = c.post(
        _url("integrations_import_new"),
        {"system": erp.pk, "entity": "customer", "file": SimpleUploadedFile("w.csv", data)},
    )
    fi = FileImport.objects.get()
    assert r.status_code == 302 and r["Location"] == _url("integrations_import_mapping", fi)
    page = c.get(_url("integrations_import_mapping", fi))
    assert page.status_code == 200 and b'data-field="legal_name"' in page.content
    # A required field left unmapped is a form error, not a crash.
    r = c.post(_url("integrations_import_mapping", fi), {"f_external_id": "编号"})
    assert r.status_code == 200 and b"invalid-feedback" in r.content
    r = c.post(
        _url("integrations_import_mapping", fi),
        {"f_external_id": "编号", "f_version": "版本", "f_legal_name": "公司名称", "save_as": "网页模板"},
    )
    assert r.status_code == 302 and r["Location"] == _url("integrations_import_detail", fi)
    template = ImportTemplate.objects.get(name="网页模板")
    assert template.mapping == {"external_id": "编号", "version": "版本", "legal_name": "公司名称"}
    detail = c.get(_url("integrations_import_detail", fi))
    assert detail.status_code == 200
    assert b'data-would="created">1<' in detail.content and b'data-would="rejected">1<' in detail.content
    assert b"data-run" in detail.content
    assert Customer.objects.count() == 0
    r = c.post(_url("integrations_import_run", fi))
    assert r.status_code == 302
    fi.refresh_from_db()
    assert fi.status == FileImportStatus.DONE and (fi.created, fi.rejected) == (1, 1)
    detail = c.get(_url("integrations_import_detail", fi))
    assert b'data-count="created">1<' in detail.content and b"data-error-report" in detail.content
    assert b"data-rerun" in detail.content
    assert _url("integrations_import_status", fi).encode() not in detail.content  # finished: no polling
    report = c.get(_url("integrations_import_report", fi))
    assert report.status_code == 200 and report["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(report.streaming_content).decode("utf-8-sig"))))
    assert rows[1][:3] == ["3", "W2", "公司名称"] and rows[1][4:] == ["W2", "1", ""]
    r = c.post(_url("integrations_import_rerun", fi))
    again = FileImport.objects.exclude(pk=fi.pk).get()
    assert r["Location"] == _url("integrations_import_detail", again) and again.unchanged == 1


def test_an_xlsx_upload_with_a_saved_template(alice: Any, erp: Any, client_for: Any) -> None:
    template = services.import_template_save(
        actor=alice, entity="customer", name="表格", mapping={"external_id": "ID", "legal_name": "名称"}
    )
    data = xlsx_bytes(["ID", "名称"], [["X1", "表格导入有限公司"]])
    r = client_for(alice).post(
        _url("integrations_import_new"),
        {
            "system": erp.pk,
            "entity": "customer",
            "file": SimpleUploadedFile("t.xlsx", data),
            "template": template.pk,
        },
    )
    fi = FileImport.objects.get()
    assert r.status_code == 302 and fi.template == template and fi.file_format == "xlsx"
    assert fi.mapping == {"external_id": "ID", "legal_name": "名称"}


def test_a_bad_upload_is_a_form_error(alice: Any, erp: Any, client_for: Any) -> None:
    c = client_for(alice)
    r = c.post(
        _url("integrations_import_new"),
        {"system": erp.pk, "entity": "customer", "file": SimpleUploadedFile("x.xlsx", b"junk")},
    )
    assert r.status_code == 200 and b"invalid-feedback" in r.content
    r = c.post(
        _url("integrations_import_new"),
        {"system": erp.pk, "entity": "nonsense", "file": SimpleUploadedFile("x.csv", b"a\n1\n")},
    )
    assert r.status_code == 200 and b"invalid-feedback" in r.content
    assert FileImport.objects.count() == 0


def test_blank_templates_download(alice: Any, client_for: Any) -> None:
    c = client_for(alice)
    r = c.get(reverse("integrations_import_blank", args=["order", "csv"]))
    assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
    r = c.get(reverse("integrations_import_blank", args=["order", "xlsx"]))
    assert r.status_code == 200 and r.content[:2] == b"PK"
    assert c.get(reverse("integrations_import_blank", args=["nothing", "csv"])).status_code == 404
    assert c.get(reverse("integrations_import_blank", args=["order", "pdf"])).status_code == 404


def test_the_status_block_polls_while_a_run_is_going_on(alice: Any, erp: Any, client_for: Any) -> None:
    from steelyard.core.models import Job, JobStatus

    fi = upload(alice, erp, "customer", csv_bytes(CUSTOMER_HEADER, customer_rows(1)), "c.csv")
    job = Job.objects.create(task_path="x", status=JobStatus.RUNNING, created_by=alice)
    FileImport.objects.filter(pk=fi.pk).update(status=FileImportStatus.RUNNING, job=job)
    live = services.LiveProgress(fi.pk)
    live.set_phase(services.PHASE_IMPORTING, 200)
    live.report(50)
    live.write(force=True)
    r = client_for(alice).get(_url("integrations_import_status", fi))
    assert r.status_code == 200
    assert b'hx-trigger="every 2s"' in r.content and b'data-percent="25"' in r.content
    assert b"<html" not in r.content
    live.close()


# --- who sees what --------------------------------------------------------------------------------


ROUTES = [
    "integrations_import_detail",
    "integrations_import_status",
    "integrations_import_mapping",
    "integrations_import_report",
]
POSTS = ["integrations_import_run", "integrations_import_rerun", "integrations_import_check"]


def test_the_uploader_and_administrators_see_an_import(
    alices_import: Any, personas: Any, client_for: Any
) -> None:
    for user in (personas.alice, personas.admin):
        c = client_for(user)
        assert c.get(_url("integrations_import_detail", alices_import)).status_code == 200
        assert c.get(_url("integrations_import_report", alices_import)).status_code == 200
        listing = c.get(_url("integrations_import_list"))
        assert f'data-import="{alices_import.pk}"'.encode() in listing.content


def test_another_importer_gets_404_and_does_not_see_it_listed(
    alices_import: Any, charlie: Any, personas: Any, client_for: Any
) -> None:
    c = client_for(charlie)
    for name in ROUTES:
        assert c.get(_url(name, alices_import)).status_code == 404, name
    for name in POSTS:
        assert c.post(_url(name, alices_import)).status_code == 404, name
    listing = c.get(_url("integrations_import_list"))
    assert listing.status_code == 200 and f'data-import="{alices_import.pk}"'.encode() not in listing.content


def test_a_manager_with_finance_still_sees_only_their_own_imports(
    alices_import: Any, personas: Any, client_for: Any
) -> None:
    bob = give_role(personas.bob)  # alice's manager: imports are personal, not team records
    assert client_for(bob).get(_url("integrations_import_detail", alices_import)).status_code == 404


def test_people_without_the_role_are_refused(alices_import: Any, personas: Any, client_for: Any) -> None:
    c = client_for(personas.bob)  # sales manager
    for name in ("integrations_import_list", "integrations_import_new", "integrations_import_templates"):
        assert c.get(_url(name)).status_code == 403, name
    for name in ROUTES:
        assert c.get(_url(name, alices_import)).status_code == 403, name


def test_the_list_filters_and_stays_cheap(
    alice: Any, erp: Any, personas: Any, client_for: Any, django_assert_max_num_queries: Any
) -> None:
    mes = make_system("mes", kind="mes")[0]
    data = csv_bytes(CUSTOMER_HEADER, customer_rows(1))
    a = upload(alice, erp, "customer", data, "erp.csv")
    b = upload(alice, mes, "customer", data, "mes.csv")
    p = upload(
        alice,
        erp,
        "product",
        csv_bytes(["external_id", "code", "name", "product_line"], [["X", "X", "X", "L"]]),
        "p.csv",
    )
    for i in range(30):
        upload(alice, erp, "customer", data, f"more{i}.csv")
    c = client_for(alice)
    with django_assert_max_num_queries(20):
        r = c.get(_url("integrations_import_list"))
    assert r.status_code == 200 and b'rel="next"' in r.content
    r = c.get(_url("integrations_import_list"), {"system": mes.pk})
    assert f'data-import="{b.pk}"'.encode() in r.content and f'data-import="{a.pk}"'.encode() not in r.content
    r = c.get(_url("integrations_import_list"), {"entity": "product"})
    assert f'data-import="{p.pk}"'.encode() in r.content and f'data-import="{a.pk}"'.encode() not in r.content
    run(alice, a)
    r = c.get(_url("integrations_import_list"), {"status": "done"})
    assert f'data-import="{a.pk}"'.encode() in r.content and f'data-import="{b.pk}"'.encode() not in r.content
    r = c.get(_url("integrations_import_list"), {"status": "bogus", "system": "x"})
    assert r.status_code == 200


def test_templates_page_and_delete(alice: Any, charlie: Any, client_for: Any) -> None:
    t = services.import_template_save(
        actor=alice, entity="customer", name="甲", mapping={"external_id": "id"}
    )
    r = client_for(alice).get(_url("integrations_import_templates"))
    assert r.status_code == 200 and f'data-template="{t.pk}"'.encode() in r.content
    assert (
        client_for(charlie).post(reverse("integrations_import_template_delete", args=[t.pk])).status_code
        == 403
    )
    r = client_for(alice).post(reverse("integrations_import_template_delete", args=[t.pk]))
    assert r.status_code == 302 and not ImportTemplate.objects.filter(pk=t.pk).exists()
    assert AuditLog.objects.filter(verb=services.AUDIT_TEMPLATE_DELETED).exists()


# --- the API (administrators) ---------------------------------------------------------------------


API = "/api/v1/integrations/imports/"


def test_the_api_uploads_checks_runs_and_reports(personas: Any, erp: Any, client_for: Any) -> None:
    c = client_for(personas.admin)
    rows = customer_rows(2)
    rows[0][2] = ""
    data = csv_bytes(CUSTOMER_HEADER, rows)
    r = c.post(API, {"file": SimpleUploadedFile("api.csv", data), "system": "erp", "entity": "customer"})
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["status"] == "uploaded" and body["mapping"]["legal_name"] == "legal_name"
    fid = body["id"]
    r = c.post(f"{API}{fid}/preview", data={}, content_type="application/json")
    assert r.status_code == 200, r.content
    assert r.json()["preview"]["counts"] == {"created": 1, "updated": 0, "unchanged": 0, "rejected": 1}
    assert Customer.objects.count() == 0
    r = c.post(f"{API}{fid}/run")
    assert r.status_code == 202, r.content
    assert r.json()["status"] == "done"
    r = c.get(f"{API}{fid}")
    assert r.status_code == 200 and r.json()["counts"]["created"] == 1
    report_url = r.json()["error_report_url"]
    r = c.get(report_url)
    assert r.status_code == 200
    text = b"".join(r.streaming_content).decode("utf-8-sig")
    assert "C000" in text
    r = c.get(API)
    assert r.status_code == 200 and [i["id"] for i in r.json()["items"]] == [fid]
    r = c.post(f"{API}{fid}/run")
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = c.post(f"{API}{fid}/again")
    assert r.status_code == 202 and r.json()["import_id"] != fid


def test_the_api_explains_bad_input_in_the_one_error_format(personas: Any, erp: Any, client_for: Any) -> None:
    c = client_for(personas.admin)
    r = c.post(API, {"file": SimpleUploadedFile("a.csv", b"x\n1\n"), "system": "nope", "entity": "customer"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "form.system"
    r = c.post(API, {"file": SimpleUploadedFile("a.pdf", b"x"), "system": "erp", "entity": "customer"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "form.file"
    r = c.post(
        API,
        {
            "file": SimpleUploadedFile("a.csv", b"x\n1\n"),
            "system": "erp",
            "entity": "customer",
            "mapping": "[1]",
        },
    )
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "form.mapping"
    r = c.post(
        API,
        {
            "file": SimpleUploadedFile("a.csv", csv_bytes(CUSTOMER_HEADER, customer_rows(1))),
            "system": "erp",
            "entity": "customer",
        },
    )
    fid = r.json()["id"]
    r = c.put(
        f"{API}{fid}/mapping",
        data=json.dumps({"mapping": {"external_id": "missing"}}),
        content_type="application/json",
    )
    assert r.status_code == 422
    fields = {f["field"] for f in r.json()["error"]["fields"]}
    assert "body.mapping.external_id" in fields and "body.mapping.legal_name" in fields
    assert c.get(f"{API}999999").status_code == 404


def test_the_api_is_for_administrators(
    alices_import: Any, alice: Any, personas: Any, client_for: Any
) -> None:
    assert client_for(alice).get(API).status_code == 403
    assert client_for(alice).get(f"{API}{alices_import.pk}").status_code == 403
    assert client_for(personas.bob).get(API).status_code == 403
    assert client_for(personas.admin).get(f"{API}{alices_import.pk}").status_code == 200
