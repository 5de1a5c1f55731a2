"""Writing the audit log. Services call ``audit_record`` inside their own transaction."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Iterable
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models

from steelyard.core import request_context
from steelyard.core.models import AuditAction, AuditLog


def _plain(value: Any) -> Any:
    """A JSON-safe form of a field value, exact for money and dates."""
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    return value


def snapshot(obj: models.Model, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The current values of ``fields`` (all concrete fields by default), JSON-safe."""
    names = (
        list(fields)
        if fields is not None
        else [f.attname for f in obj._meta.concrete_fields if f.name not in ("password",)]
    )
    return {name: _plain(getattr(obj, name)) for name in names}


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """``{field: [before, after]}`` for each field whose value changed."""
    keys = list(dict.fromkeys([*before, *after]))
    return {k: [before.get(k), after.get(k)] for k in keys if before.get(k) != after.get(k)}


def audit_record(
    *,
    actor: Any,
    action: str,
    obj: models.Model | None = None,
    changes: dict[str, Any] | None = None,
    verb: str = "",
    extra: dict[str, Any] | None = None,
    object_repr: str | None = None,
) -> AuditLog:
    """Append one row to the audit log, tagged with the current request's id and IP."""
    ctx = request_context.current()
    real_actor = actor if actor is not None and getattr(actor, "pk", None) else None
    return AuditLog.objects.create(
        actor=real_actor,
        actor_repr=(str(real_actor) if real_actor else "system")[:150],
        action=action,
        verb=verb,
        content_type=ContentType.objects.get_for_model(obj) if obj is not None else None,
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=(object_repr if object_repr is not None else str(obj) if obj is not None else "")[:200],
        changes=changes or {},
        request_id=ctx.request_id,
        ip=ctx.ip,
        extra=extra or {},
    )


def audit_create(*, actor: Any, obj: models.Model, fields: Iterable[str] | None = None) -> AuditLog:
    after = snapshot(obj, fields)
    return audit_record(actor=actor, action=AuditAction.CREATE, obj=obj, changes=diff({}, after))


def audit_update(*, actor: Any, obj: models.Model, before: dict[str, Any], verb: str = "") -> AuditLog | None:
    """Record an update when something changed; ``before`` is ``snapshot(obj)`` taken before the change."""
    changes = diff(before, snapshot(obj, before.keys()))
    if not changes:
        return None
    return audit_record(actor=actor, action=AuditAction.UPDATE, obj=obj, changes=changes, verb=verb)


def audit_delete(*, actor: Any, obj: models.Model) -> AuditLog:
    before = snapshot(obj)
    return audit_record(actor=actor, action=AuditAction.DELETE, obj=obj, changes=diff(before, {}))
