"""Working on a record together: comments with @mentions, and attached files.

A *comment* is a remark anyone who can see a record may post on it; writing
``@username`` notifies that person, so the rep, the solution engineer and the delivery
manager can pull each other in. Only people who can see the record may be mentioned.

An *attachment* is a file on a record, kept in the default storage
(``STORAGES["default"]``: a folder under ``var/media`` unless configured otherwise)
under a random name; the original file name is only kept in the database. Size, file
type and the file's real content are checked before anything is stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import mimetypes
import re
import secrets
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import models, transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from steelyard.core import access
from steelyard.core.models import Attachment, AuditAction, Comment
from steelyard.core.selectors.collaboration import record_is_visible, record_label
from steelyard.core.services.audit import audit_record, snapshot
from steelyard.core.services.notifications import notify

if TYPE_CHECKING:
    from steelyard.org.models import User

COMMENT_MAX_LENGTH = 5000
COMMENT_DELETE_WINDOW = dt.timedelta(minutes=15)
MENTION_RE = re.compile(r"(?<![\w@.])@([A-Za-z0-9_.\-]+)")

RECORD_NOT_VISIBLE = _("You cannot see this record.")
COMMENT_EMPTY = _("Write something before posting.")
COMMENT_TOO_LONG = _("A comment can be at most %(max)s characters.")
MENTION_UNKNOWN = _("There is no active user called @%(username)s.")
MENTION_NOT_ALLOWED = _("@%(username)s cannot see this record, so they cannot be mentioned here.")
COMMENT_DELETE_DENIED = _(
    "Only the author, within 15 minutes of posting, or an administrator can delete a comment."
)
ATTACHMENT_EMPTY = _("The file is empty.")
ATTACHMENT_TOO_BIG = _("The file is %(size)s; files can be at most %(max)s.")
ATTACHMENT_BAD_TYPE = _("Files of type “.%(ext)s” are not allowed. Allowed types: %(allowed)s.")
ATTACHMENT_NO_EXTENSION = _("The file name needs an extension, e.g. .pdf. Allowed types: %(allowed)s.")
ATTACHMENT_CONTENT_MISMATCH = _("The file's content is not a real .%(ext)s file.")
ATTACHMENT_DELETE_DENIED = _("Only the person who uploaded a file or an administrator can delete it.")

# The first bytes of the common types; a file whose name claims one of these must start so.
_OLE = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)
_ZIP = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
MAGIC: dict[str, tuple[bytes, ...]] = {
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
    "gif": (b"GIF87a", b"GIF89a"),
    "pdf": (b"%PDF-",),
    "zip": _ZIP,
    "docx": _ZIP,
    "xlsx": _ZIP,
    "pptx": _ZIP,
    "doc": _OLE,
    "xls": _OLE,
    "dwg": (b"AC10", b"AC1.", b"AC2."),
    "step": (b"ISO-10303-21",),
    "stp": (b"ISO-10303-21",),
}
TEXT_TYPES = {"txt", "csv"}
HEAD_BYTES = 8192


# --- comments -----------------------------------------------------------------------


def _mentioned_users(*, body: str, record: models.Model) -> list[User]:
    """The people ``@named`` in ``body``, each checked to exist, be active and see ``record``."""
    from steelyard.org.models import User

    names = list(dict.fromkeys(MENTION_RE.findall(body)))
    if not names:
        return []
    # "@alice." at the end of a sentence means alice: try each name with trailing dots trimmed too.
    candidates = set(names) | {n.rstrip(".-") for n in names}
    found = {u.username: u for u in User.objects.filter(username__in=candidates, is_active=True)}
    users: list[User] = []
    errors: list[ValidationError] = []
    for name in names:
        user = found.get(name) or found.get(name.rstrip(".-"))
        if user is None:
            errors.append(ValidationError(MENTION_UNKNOWN, params={"username": name.rstrip(".-") or name}))
        elif not record_is_visible(user=user, record=record):
            errors.append(ValidationError(MENTION_NOT_ALLOWED, params={"username": user.username}))
        elif user not in users:
            users.append(user)
    if errors:
        raise ValidationError({"body": errors})
    return users


@transaction.atomic
def comment_post(*, actor: User, subject: models.Model, body: str) -> Comment:
    """Post a comment on ``subject`` and notify everyone it mentions (never the author)."""
    if not record_is_visible(user=actor, record=subject):
        raise PermissionDenied(RECORD_NOT_VISIBLE)
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": [COMMENT_EMPTY]})
    if len(body) > COMMENT_MAX_LENGTH:
        raise ValidationError(
            {"body": [ValidationError(COMMENT_TOO_LONG, params={"max": COMMENT_MAX_LENGTH})]}
        )
    mentioned = _mentioned_users(body=body, record=subject)
    comment = Comment.objects.create(
        content_type=ContentType.objects.get_for_model(subject),
        object_id=str(subject.pk),
        author=actor,
        body=body,
    )
    if mentioned:
        comment.mentions.set(mentioned)
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        obj=comment,
        changes={"body": [None, body]},
        extra={
            "subject": record_label(subject),
            "subject_id": str(subject.pk),
            "mentions": [u.username for u in mentioned],
        },
    )
    excerpt = Truncator(body).chars(300)
    actor_name = str(actor)
    subject_name = str(subject)
    notify(
        recipients=mentioned,
        title=lambda: (
            _("%(actor)s mentioned you on %(subject)s") % {"actor": actor_name, "subject": subject_name}
        ),
        body=excerpt,
        subject=subject,
        event="comment.mention",
        actor=actor,
    )
    return comment


def comment_can_delete(*, actor: User, comment: Comment) -> bool:
    """The author may delete within 15 minutes of posting; an administrator at any time."""
    if access.user_has_role(actor, access.ADMINISTRATOR):
        return True
    return comment.author_id == actor.pk and timezone.now() - comment.created_at <= COMMENT_DELETE_WINDOW


@transaction.atomic
def comment_delete(*, actor: User, comment: Comment) -> None:
    if not comment_can_delete(actor=actor, comment=comment):
        raise PermissionDenied(COMMENT_DELETE_DENIED)
    before = snapshot(comment)
    audit_record(
        actor=actor,
        action=AuditAction.DELETE,
        obj=comment,
        changes={k: [v, None] for k, v in before.items()},
    )
    comment.delete()


# --- attachments --------------------------------------------------------------------


def _allowed_extensions() -> list[str]:
    return [e.lower().lstrip(".") for e in settings.ATTACHMENT_ALLOWED_EXTENSIONS]


def _clean_filename(name: str) -> str:
    """The original name without any directory part or control characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip().strip(".")
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 254 - len(ext)] + dot + ext) if dot and len(ext) < 20 else name[:255]
    return name


def _content_matches(ext: str, head: bytes) -> bool:
    signatures = MAGIC.get(ext)
    if signatures is not None:
        probe = head.lstrip() if ext in ("step", "stp") else head
        if ext == "dwg":
            return probe[:2] == b"AC" and probe[2:6].isdigit()
        return any(probe.startswith(sig) for sig in signatures)
    if ext == "webp":
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    if ext in TEXT_TYPES:
        # Text has no NUL bytes; binary formats almost always do in their first few KB.
        return b"\x00" not in head
    return True


def attachment_validate(uploaded_file: UploadedFile) -> tuple[str, str]:
    """Check size, type and content of an upload; returns ``(clean_filename, extension)``."""
    allowed = _allowed_extensions()
    allowed_text = ", ".join(allowed)
    filename = _clean_filename(uploaded_file.name or "")
    _stem, dot, ext = filename.rpartition(".")
    ext = ext.lower() if dot else ""
    if not ext:
        raise ValidationError(
            {"file": [ValidationError(ATTACHMENT_NO_EXTENSION, params={"allowed": allowed_text})]}
        )
    if ext not in allowed:
        raise ValidationError(
            {"file": [ValidationError(ATTACHMENT_BAD_TYPE, params={"ext": ext, "allowed": allowed_text})]}
        )
    size = uploaded_file.size or 0
    if size == 0:
        raise ValidationError({"file": [ATTACHMENT_EMPTY]})
    if size > settings.ATTACHMENT_MAX_BYTES:
        raise ValidationError(
            {
                "file": [
                    ValidationError(
                        ATTACHMENT_TOO_BIG,
                        params={
                            "size": filesizeformat(size),
                            "max": filesizeformat(settings.ATTACHMENT_MAX_BYTES),
                        },
                    )
                ]
            }
        )
    uploaded_file.seek(0)
    head = uploaded_file.read(HEAD_BYTES)
    uploaded_file.seek(0)
    if not _content_matches(ext, head):
        raise ValidationError({"file": [ValidationError(ATTACHMENT_CONTENT_MISMATCH, params={"ext": ext})]})
    return filename, ext


def _sha256(uploaded_file: UploadedFile) -> str:
    digest = hashlib.sha256()
    uploaded_file.seek(0)
    for chunk in uploaded_file.chunks():
        digest.update(chunk)
    uploaded_file.seek(0)
    return digest.hexdigest()


@transaction.atomic
def attachment_add(*, actor: User, subject: models.Model, uploaded_file: UploadedFile) -> Attachment:
    """Attach a checked file to ``subject``; stored under a random name, audited."""
    if not record_is_visible(user=actor, record=subject):
        raise PermissionDenied(RECORD_NOT_VISIBLE)
    filename, ext = attachment_validate(uploaded_file)
    sha256 = _sha256(uploaded_file)
    now = timezone.now()
    stored_name = default_storage.save(
        f"attachments/{now:%Y/%m}/{secrets.token_urlsafe(24)}.{ext}", uploaded_file
    )
    try:
        attachment = Attachment.objects.create(
            content_type=ContentType.objects.get_for_model(subject),
            object_id=str(subject.pk),
            file=stored_name,
            filename=filename,
            content_type_header=mimetypes.guess_type(filename)[0] or "application/octet-stream",
            size=uploaded_file.size,
            sha256=sha256,
            uploaded_by=actor,
        )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            obj=attachment,
            changes={"filename": [None, filename], "size": [None, attachment.size], "sha256": [None, sha256]},
            extra={"subject": record_label(subject), "subject_id": str(subject.pk)},
        )
    except Exception:
        default_storage.delete(stored_name)
        raise
    return attachment


def attachment_can_delete(*, actor: User, attachment: Attachment) -> bool:
    return attachment.uploaded_by_id == actor.pk or access.user_has_role(actor, access.ADMINISTRATOR)


@transaction.atomic
def attachment_delete(*, actor: User, attachment: Attachment) -> None:
    """Remove a file from its record (uploader or administrator); the stored file goes after commit."""
    if not attachment_can_delete(actor=actor, attachment=attachment):
        raise PermissionDenied(ATTACHMENT_DELETE_DENIED)
    stored_name = attachment.file.name
    audit_record(
        actor=actor,
        action=AuditAction.DELETE,
        obj=attachment,
        changes={"filename": [attachment.filename, None], "sha256": [attachment.sha256, None]},
    )
    attachment.delete()
    transaction.on_commit(lambda: default_storage.delete(stored_name))
