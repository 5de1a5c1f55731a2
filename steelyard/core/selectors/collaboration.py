"""Reading comments and attachments on any record, and finding that record safely.

"Any record" means any model whose default manager is scoped (``objects.visible_to``):
a record is addressed as ``<app_label>.<model_name>`` plus its primary key, and a
model without a scoped manager cannot carry comments or files (404), because nobody
could say who may read them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import Http404

from steelyard.core.models import Attachment, Comment

if TYPE_CHECKING:
    from steelyard.org.models import User


def record_label(record: models.Model) -> str:
    """``"<app_label>.<model_name>"``, the address of a record's model in URLs."""
    return f"{record._meta.app_label}.{record._meta.model_name}"


def scoped_model(label: str) -> type[models.Model]:
    """The model named ``app_label.model_name`` if it has a scoped manager; else Http404."""
    app_label, _dot, model_name = label.partition(".")
    if not app_label or not model_name:
        raise Http404("Unknown record type.")
    try:
        model = ContentType.objects.get_by_natural_key(app_label, model_name.lower()).model_class()
    except ContentType.DoesNotExist:
        raise Http404("Unknown record type.")
    manager = getattr(model, "objects", None) if model is not None else None
    if model is None or not callable(getattr(manager, "visible_to", None)):
        raise Http404("This kind of record takes no comments or files.")
    return model


def record_is_visible(*, user: User, record: models.Model) -> bool:
    """True when ``user`` may view ``record`` according to its model's data scope."""
    manager = getattr(type(record), "objects", None)
    if manager is None or not callable(getattr(manager, "visible_to", None)):
        return False
    return manager.visible_to(user).filter(pk=record.pk).exists()


def record_get(*, user: User, label: str, pk: Any) -> models.Model:
    """The record ``label``/``pk`` if ``user`` may see it; Http404 otherwise."""
    model = scoped_model(label)
    try:
        pk_value = model._meta.pk.to_python(pk)
    except (ValidationError, ValueError, TypeError):
        raise Http404("No such record.")
    try:
        return model.objects.visible_to(user).get(pk=pk_value)  # type: ignore[attr-defined]
    except model.DoesNotExist:  # type: ignore[attr-defined]
        raise Http404("No such record.")


def _on(record: models.Model) -> dict[str, Any]:
    return {"content_type": ContentType.objects.get_for_model(record), "object_id": str(record.pk)}


def comment_list(*, user: User, record: models.Model) -> QuerySet[Comment]:
    """The comments on ``record``, oldest first; none when the user cannot see the record."""
    if not record_is_visible(user=user, record=record):
        return Comment.objects.none()
    return Comment.objects.filter(**_on(record)).select_related("author").order_by("created_at", "id")


def attachment_list(*, user: User, record: models.Model) -> QuerySet[Attachment]:
    """The files on ``record``, newest first; none when the user cannot see the record."""
    if not record_is_visible(user=user, record=record):
        return Attachment.objects.none()
    return (
        Attachment.objects.filter(**_on(record)).select_related("uploaded_by").order_by("-created_at", "-id")
    )


def attachment_get(*, user: User, record: models.Model, pk: Any) -> Attachment:
    """One attachment of ``record`` the user may download; Http404 otherwise."""
    try:
        return attachment_list(user=user, record=record).get(pk=int(pk))
    except (Attachment.DoesNotExist, ValueError, TypeError):
        raise Http404("No such file.")


def comment_get(*, user: User, record: models.Model, pk: Any) -> Comment:
    try:
        return comment_list(user=user, record=record).get(pk=int(pk))
    except (Comment.DoesNotExist, ValueError, TypeError):
        raise Http404("No such comment.")
