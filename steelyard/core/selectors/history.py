"""A record's change history read from its simple_history rows: who changed which fields, from what to what."""

from __future__ import annotations

import datetime as dt
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _


@dataclass
class HistoryEntry:
    at: dt.datetime
    who: str
    kind: str  # "+", "~", "-"
    changes: list[tuple[Any, str, str]] = field(default_factory=list)  # (field label, before, after)


def history_value(model_field: Any, value: Any, known: Mapping[tuple[str, Any], Any]) -> str:
    """One stored value as people read it; related rows in ``known`` ((field, id) → object) name
    themselves, other related rows show as ``#id`` (no query each)."""
    if value in (None, ""):
        return "—"
    if (model_field.name, value) in known:
        return str(known[(model_field.name, value)])
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return str(_("Yes") if value else _("No"))
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if model_field.is_relation:
        return f"#{value}"
    return str(value)


def record_history(
    record: Any,
    *,
    skip: Container[str] = ("id", "created_at", "updated_at"),
    known: Mapping[tuple[str, Any], Any] | None = None,
    limit: int = 50,
    drop_unchanged: bool = False,
) -> list[HistoryEntry]:
    """What changed on ``record`` and when (newest first), one query. ``skip`` names fields not shown;
    ``drop_unchanged`` leaves out edits that changed only skipped fields."""
    rows = list(
        record.history.select_related("history_user").order_by("-history_date", "-history_id")[: limit + 1]
    )
    fields = [f for f in type(record)._meta.concrete_fields if f.name not in skip]
    known = known or {}
    entries = []
    for i, row in enumerate(rows[:limit]):
        older = rows[i + 1] if i + 1 < len(rows) else None
        who = str(row.history_user) if row.history_user_id else str(_("System"))
        entry = HistoryEntry(row.history_date, who, row.history_type)
        if older is not None and row.history_type == "~":
            for f in fields:
                before, after = getattr(older, f.attname), getattr(row, f.attname)
                if before != after:
                    entry.changes.append(
                        (f.verbose_name, history_value(f, before, known), history_value(f, after, known))
                    )
            if drop_unchanged and not entry.changes:
                continue
        entries.append(entry)
    return entries
