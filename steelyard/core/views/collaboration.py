"""Comments and attachments on any record, at ``/records/<app_label>.<model_name>/<pk>/``.

Each panel is an htmx partial that re-renders itself after a post; without JavaScript
the forms post normally and come back to the page they were sent from. Every route
first finds the record through its model's ``visible_to`` (404 outside the user's scope).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from steelyard.core import access
from steelyard.core.models import Attachment
from steelyard.core.selectors.collaboration import (
    attachment_get,
    attachment_list,
    comment_get,
    comment_list,
    record_get,
    record_label,
)
from steelyard.core.services.collaboration import (
    attachment_add,
    attachment_can_delete,
    attachment_delete,
    comment_can_delete,
    comment_delete,
    comment_post,
)
from steelyard.core.views.notifications import is_local_url


class CommentForm(forms.Form):
    body = forms.CharField(
        label=_("Comment"),
        max_length=5000,
        widget=forms.Textarea(
            attrs={"rows": 3, "class": "form-control", "placeholder": _("@username to notify someone")}
        ),
        help_text=_("Type @username to notify someone who can see this record."),
    )


class AttachmentForm(forms.Form):
    file = forms.FileField(label=_("File"), widget=forms.ClearableFileInput(attrs={"class": "form-control"}))


def attachment_limits() -> dict[str, Any]:
    """What the upload form tells people before they pick a file."""
    exts = [e.lower().lstrip(".") for e in settings.ATTACHMENT_ALLOWED_EXTENSIONS]
    return {
        "max_size": filesizeformat(settings.ATTACHMENT_MAX_BYTES),
        "extensions": ", ".join(exts),
        "accept": ",".join(f".{e}" for e in exts),
    }


def back_url(request: HttpRequest) -> str:
    """The page the panels sit on, for plain (non-htmx) forms to come back to."""
    if is_htmx(request):
        current = request.headers.get("HX-Current-URL", "")
        path = urlsplit(current)
        candidate = path.path + (f"?{path.query}" if path.query else "")
        if current and path.netloc in ("", request.get_host()) and is_local_url(candidate, request):
            return candidate
        return ""
    return request.get_full_path()


def comments_context(
    request: HttpRequest, record: models.Model, form: CommentForm | None = None
) -> dict[str, Any]:
    comments = list(comment_list(user=request.user, record=record))
    for c in comments:
        c.can_delete = comment_can_delete(actor=request.user, comment=c)  # type: ignore[attr-defined]
    return {
        "record": record,
        "label": record_label(record),
        "comments": comments,
        "comment_form": form or CommentForm(),
        "back_url": back_url(request),
    }


def attachments_context(
    request: HttpRequest, record: models.Model, form: AttachmentForm | None = None
) -> dict[str, Any]:
    files = list(attachment_list(user=request.user, record=record))
    for a in files:
        a.can_delete = attachment_can_delete(actor=request.user, attachment=a)  # type: ignore[attr-defined]
    return {
        "record": record,
        "label": record_label(record),
        "attachments": files,
        "attachment_form": form or AttachmentForm(),
        "limits": attachment_limits(),
        "back_url": back_url(request),
    }


def _record_page(label: str, pk: Any) -> str:
    return reverse("record_collab", args=[label, pk])


def _back(request: HttpRequest, label: str, pk: Any) -> HttpResponseRedirect:
    nxt = request.POST.get("next") or request.GET.get("next") or ""
    return HttpResponseRedirect(nxt if is_local_url(nxt, request) else _record_page(label, pk))


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _errors(exc: ValidationError) -> list[str]:
    return [str(m) for m in exc.messages]


@access.authenticated
@require_GET
def record_collab(request: HttpRequest, label: str, pk: str) -> HttpResponse:
    """A page with only the comments and files of a record (the link target when it has no page)."""
    record = record_get(user=request.user, label=label, pk=pk)
    get_url = getattr(record, "get_absolute_url", None)
    return render(
        request,
        "core/collab/record.html",
        {"record": record, "record_url": get_url() if callable(get_url) else ""},
    )


@access.authenticated
@require_http_methods(["GET", "POST"])
def record_comments(request: HttpRequest, label: str, pk: str) -> HttpResponse:
    record = record_get(user=request.user, label=label, pk=pk)
    if request.method == "POST":
        form = CommentForm(request.POST)
        if form.is_valid():
            try:
                comment_post(actor=request.user, subject=record, body=form.cleaned_data["body"])
            except ValidationError as exc:
                form.add_error("body", _errors(exc))
            else:
                form = CommentForm()
                if not is_htmx(request):
                    messages.success(request, _("Comment posted."))
        if not is_htmx(request):
            for error in form.errors.get("body", []):
                messages.error(request, error)
            return _back(request, label, pk)
        return render(request, "core/collab/_comments.html", comments_context(request, record, form))
    return render(request, "core/collab/_comments.html", comments_context(request, record))


@access.authenticated
@require_http_methods(["GET", "POST"])
def record_comment_delete(request: HttpRequest, label: str, pk: str, comment_id: str) -> HttpResponse:
    """GET asks for confirmation; POST deletes (author within 15 minutes, or an administrator)."""
    record = record_get(user=request.user, label=label, pk=pk)
    comment = comment_get(user=request.user, record=record, pk=comment_id)
    if not comment_can_delete(actor=request.user, comment=comment):
        raise PermissionDenied
    if request.method == "POST":
        comment_delete(actor=request.user, comment=comment)
        messages.success(request, _("Comment deleted."))
        return _back(request, label, pk)
    return render(
        request,
        "core/collab/confirm_delete.html",
        {
            "record": record,
            "what": comment.body,
            "question": _("Delete this comment?"),
            "cancel_url": _record_page(label, pk),
        },
    )


@access.authenticated
@require_http_methods(["GET", "POST"])
def record_attachments(request: HttpRequest, label: str, pk: str) -> HttpResponse:
    record = record_get(user=request.user, label=label, pk=pk)
    if request.method == "POST":
        form = AttachmentForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                attachment_add(actor=request.user, subject=record, uploaded_file=form.cleaned_data["file"])
            except ValidationError as exc:
                form.add_error("file", _errors(exc))
            else:
                form = AttachmentForm()
                if not is_htmx(request):
                    messages.success(request, _("File uploaded."))
        if not is_htmx(request):
            for error in form.errors.get("file", []):
                messages.error(request, error)
            return _back(request, label, pk)
        return render(request, "core/collab/_attachments.html", attachments_context(request, record, form))
    return render(request, "core/collab/_attachments.html", attachments_context(request, record))


def ascii_fallback(filename: str) -> str:
    """A plain-ASCII stand-in for old clients that ignore ``filename*``."""
    safe = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;' else "_" for ch in filename)
    return safe or "download"


def attachment_response(attachment: Attachment) -> FileResponse:
    """Stream a stored file as a download with its original (possibly Chinese) name."""
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError:
        raise Http404("The stored file is missing.")
    response = FileResponse(handle, content_type=attachment.content_type_header or "application/octet-stream")
    response["Content-Disposition"] = (
        f'attachment; filename="{ascii_fallback(attachment.filename)}"; '
        f"filename*=UTF-8''{quote(attachment.filename, safe='')}"
    )
    response["Content-Length"] = str(attachment.size)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@access.authenticated
@require_GET
def attachment_download(request: HttpRequest, label: str, pk: str, attachment_id: str) -> HttpResponse:
    record = record_get(user=request.user, label=label, pk=pk)
    return attachment_response(attachment_get(user=request.user, record=record, pk=attachment_id))


@access.authenticated
@require_http_methods(["GET", "POST"])
def record_attachment_delete(request: HttpRequest, label: str, pk: str, attachment_id: str) -> HttpResponse:
    """GET asks for confirmation; POST deletes (the uploader or an administrator)."""
    record = record_get(user=request.user, label=label, pk=pk)
    attachment = attachment_get(user=request.user, record=record, pk=attachment_id)
    if not attachment_can_delete(actor=request.user, attachment=attachment):
        raise PermissionDenied
    if request.method == "POST":
        attachment_delete(actor=request.user, attachment=attachment)
        messages.success(request, _("File deleted."))
        return _back(request, label, pk)
    return render(
        request,
        "core/collab/confirm_delete.html",
        {
            "record": record,
            "what": attachment.filename,
            "question": _("Delete this file?"),
            "cancel_url": _record_page(label, pk),
        },
    )
