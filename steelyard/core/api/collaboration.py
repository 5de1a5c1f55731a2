"""Comments and attachments on any scoped record over the API.

Records are addressed like the HTML routes: ``/records/{app_label}.{model}/{pk}/...``;
a record outside the caller's scope, or a model without a scoped manager, answers 404.
Service refusals (bad mention, file too big, ...) answer 400 in the API's one error format.
"""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest, HttpResponse
from ninja import File, Router, Schema, Status
from ninja.files import UploadedFile

from steelyard.core.selectors.collaboration import attachment_get, attachment_list, comment_list, record_get
from steelyard.core.services.collaboration import attachment_add, comment_post
from steelyard.core.views.collaboration import attachment_response

router = Router(tags=["records"])


class CommentIn(Schema):
    body: str


class CommentOut(Schema):
    id: int
    author_id: int
    author: str
    body: str
    mentions: list[str]
    created_at: dt.datetime

    @staticmethod
    def resolve_author(obj) -> str:  # type: ignore[no-untyped-def]
        return str(obj.author)

    @staticmethod
    def resolve_mentions(obj) -> list[str]:  # type: ignore[no-untyped-def]
        return [u.username for u in obj.mentions.all()]


class AttachmentOut(Schema):
    id: int
    filename: str
    size: int
    sha256: str
    content_type: str
    uploaded_by_id: int
    created_at: dt.datetime

    @staticmethod
    def resolve_content_type(obj) -> str:  # type: ignore[no-untyped-def]
        return obj.content_type_header


@router.get("/{label}/{pk}/comments", response=list[CommentOut])
def list_comments(request: HttpRequest, label: str, pk: str):  # type: ignore[no-untyped-def]
    record = record_get(user=request.user, label=label, pk=pk)
    return comment_list(user=request.user, record=record).prefetch_related("mentions")


@router.post("/{label}/{pk}/comments", response={201: CommentOut})
def post_comment(request: HttpRequest, label: str, pk: str, payload: CommentIn):  # type: ignore[no-untyped-def]
    record = record_get(user=request.user, label=label, pk=pk)
    return Status(201, comment_post(actor=request.user, subject=record, body=payload.body))


@router.get("/{label}/{pk}/attachments", response=list[AttachmentOut])
def list_attachments(request: HttpRequest, label: str, pk: str):  # type: ignore[no-untyped-def]
    record = record_get(user=request.user, label=label, pk=pk)
    return attachment_list(user=request.user, record=record)


@router.post("/{label}/{pk}/attachments", response={201: AttachmentOut})
def upload_attachment(request: HttpRequest, label: str, pk: str, file: File[UploadedFile]):  # type: ignore[no-untyped-def]
    record = record_get(user=request.user, label=label, pk=pk)
    return Status(201, attachment_add(actor=request.user, subject=record, uploaded_file=file))


@router.get("/{label}/{pk}/attachments/{int:attachment_id}/download")
def download_attachment(request: HttpRequest, label: str, pk: str, attachment_id: int) -> HttpResponse:
    record = record_get(user=request.user, label=label, pk=pk)
    return attachment_response(attachment_get(user=request.user, record=record, pk=attachment_id))
