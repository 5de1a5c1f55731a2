"""Attachments on any record: limits, content checks, scoped downloads."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils.translation import override

from steelyard.core.models import Attachment, AuditLog
from steelyard.core.services.collaboration import attachment_add, attachment_delete

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n%test\n"


def _url(name: str, record, *extra) -> str:
    return reverse(name, args=[f"{record._meta.app_label}.{record._meta.model_name}", record.pk, *extra])


def _stored_files(settings) -> list:
    root = settings.MEDIA_ROOT
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_it_stores_a_file_under_a_random_name(personas, settings):
    import hashlib

    a = attachment_add(
        actor=personas.alice, subject=personas.alice, uploaded_file=SimpleUploadedFile("报价单 v2.pdf", PDF)
    )
    assert a.filename == "报价单 v2.pdf"
    assert a.sha256 == hashlib.sha256(PDF).hexdigest()
    assert a.size == len(PDF)
    assert a.content_type_header == "application/pdf"
    assert "报价" not in a.file.name and "v2" not in a.file.name
    assert a.file.name.startswith("attachments/") and a.file.name.endswith(".pdf")
    assert default_storage.exists(a.file.name)
    assert len(_stored_files(settings)) == 1
    assert AuditLog.objects.filter(object_id=str(a.pk), action="create").exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("big.pdf", PDF + b"x" * 200, "单个文件最大 100\xa0字节"),
        ("script.exe", b"MZ\x90\x00", ".exe"),
        ("noext", PDF, "文件名需要带扩展名"),
        ("fake.png", b"<html>not a png</html>", ".png"),
        ("fake.pdf", PNG, ".pdf"),
        ("fake.docx", PDF, ".docx"),
        ("binary.txt", PNG, ".txt"),
        ("empty.pdf", b"", "文件为空"),
    ],
)
def test_it_rejects_bad_files_and_stores_nothing(personas, settings, name, content, message):
    settings.ATTACHMENT_MAX_BYTES = 100
    with pytest.raises(ValidationError) as exc:
        attachment_add(
            actor=personas.alice, subject=personas.alice, uploaded_file=SimpleUploadedFile(name, content)
        )
    with override("zh-hans"):  # the personas' language
        assert message in " ".join(exc.value.messages)
    assert not Attachment.objects.exists()
    assert _stored_files(settings) == []


def test_it_accepts_the_common_types(personas):
    for name, content in [
        ("photo.png", PNG),
        ("photo.JPG", b"\xff\xd8\xff\xe0" + b"\x00" * 10),
        ("sheet.xlsx", b"PK\x03\x04" + b"\x00" * 10),
        ("notes.txt", "中文 notes".encode()),
        ("part.step", b"ISO-10303-21;\nHEADER;"),
    ]:
        attachment_add(
            actor=personas.alice, subject=personas.alice, uploaded_file=SimpleUploadedFile(name, content)
        )
    assert Attachment.objects.count() == 5


def test_it_shows_the_rejection_in_the_upload_form(personas, client_for, settings):
    response = client_for(personas.alice).post(
        _url("record_attachments", personas.team_a),
        {"file": SimpleUploadedFile("fake.png", b"GIF89a....")},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "is-invalid" in response.content.decode()
    assert not Attachment.objects.exists()
    assert _stored_files(settings) == []


def test_it_uploads_through_the_page(personas, client_for):
    response = client_for(personas.alice).post(
        _url("record_attachments", personas.team_a),
        {"file": SimpleUploadedFile("drawing.pdf", PDF)},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "drawing.pdf" in response.content.decode()
    assert Attachment.objects.get().uploaded_by == personas.alice


def test_it_scopes_downloads_like_the_record(personas, client_for):
    p = personas
    a = attachment_add(actor=p.alice, subject=p.alice, uploaded_file=SimpleUploadedFile("plan.pdf", PDF))
    url = _url("attachment_download", p.alice, a.pk)
    for user in (p.alice, p.bob, p.dora, p.admin):
        response = client_for(user).get(url)
        assert response.status_code == 200, user
        assert b"".join(response.streaming_content) == PDF
    assert client_for(p.charlie).get(url).status_code == 404
    assert client_for(p.charlie).get(_url("record_attachments", p.alice)).status_code == 404
    assert (
        client_for(p.charlie).post(
            _url("record_attachments", p.alice), {"file": SimpleUploadedFile("x.pdf", PDF)}
        )
    ).status_code == 404


def test_it_refuses_an_attachment_of_another_record(personas, client_for):
    p = personas
    a = attachment_add(actor=p.alice, subject=p.alice, uploaded_file=SimpleUploadedFile("plan.pdf", PDF))
    # bob can see the team unit, but the file belongs to alice's user record
    assert client_for(p.bob).get(_url("attachment_download", p.team_a, a.pk)).status_code == 404


def test_it_downloads_with_a_chinese_filename_and_safe_headers(personas, client_for):
    p = personas
    a = attachment_add(
        actor=p.alice, subject=p.team_a, uploaded_file=SimpleUploadedFile("起重机图纸.pdf", PDF)
    )
    response = client_for(p.bob).get(_url("attachment_download", p.team_a, a.pk))
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{quote('起重机图纸.pdf')}" in disposition
    assert response["X-Content-Type-Options"] == "nosniff"


def test_it_lets_the_uploader_or_an_admin_delete(personas, client_for):
    p = personas
    a = attachment_add(actor=p.alice, subject=p.team_a, uploaded_file=SimpleUploadedFile("a.pdf", PDF))
    with pytest.raises(PermissionDenied):
        attachment_delete(actor=p.bob, attachment=a)
    assert client_for(p.bob).post(_url("record_attachment_delete", p.team_a, a.pk)).status_code == 403
    assert client_for(p.charlie).post(_url("record_attachment_delete", p.team_a, a.pk)).status_code == 404
    name = a.file.name
    response = client_for(p.alice).post(_url("record_attachment_delete", p.team_a, a.pk))
    assert response.status_code == 302
    assert not Attachment.objects.exists()
    assert AuditLog.objects.filter(object_id=str(a.pk), action="delete").exists()
    b = attachment_add(actor=p.alice, subject=p.team_a, uploaded_file=SimpleUploadedFile("b.pdf", PDF))
    attachment_delete(actor=p.admin, attachment=b)
    assert not Attachment.objects.exists()
    del name


def test_it_removes_the_stored_file_after_delete(personas, django_capture_on_commit_callbacks):
    a = attachment_add(
        actor=personas.alice, subject=personas.team_a, uploaded_file=SimpleUploadedFile("a.pdf", PDF)
    )
    name = a.file.name
    with django_capture_on_commit_callbacks(execute=True):
        attachment_delete(actor=personas.alice, attachment=a)
    assert not default_storage.exists(name)


def test_it_lists_files_in_few_queries(personas, client_for, django_assert_max_num_queries):
    for i in range(15):
        attachment_add(
            actor=personas.alice, subject=personas.team_a, uploaded_file=SimpleUploadedFile(f"{i}.pdf", PDF)
        )
    c = client_for(personas.bob)
    c.get(_url("record_attachments", personas.team_a))
    with django_assert_max_num_queries(10):
        response = c.get(_url("record_attachments", personas.team_a))
    assert response.content.decode().count("/attachments/") >= 15


def test_it_serves_attachments_over_the_api(personas, client_for):
    p = personas
    base = f"/api/v1/records/org.user/{p.alice.pk}/attachments"
    response = client_for(p.alice).post(base, {"file": SimpleUploadedFile("图纸.pdf", PDF)})
    assert response.status_code == 201, response.content
    aid = response.json()["id"]
    assert [a["filename"] for a in client_for(p.bob).get(base).json()] == ["图纸.pdf"]
    download = client_for(p.bob).get(f"{base}/{aid}/download")
    assert download.status_code == 200
    assert "filename*=UTF-8''" in download["Content-Disposition"]
    assert client_for(p.charlie).get(base).status_code == 404
    assert client_for(p.charlie).get(f"{base}/{aid}/download").status_code == 404
    bad = client_for(p.alice).post(base, {"file": SimpleUploadedFile("x.png", b"nope")})
    assert bad.status_code == 400
