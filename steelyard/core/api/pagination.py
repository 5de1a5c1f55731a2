"""Keyset (cursor) pagination for API lists.

A page is ``{"items": [...], "next_cursor": "..." | null}``. The cursor is opaque to clients:
a signed, URL-safe string carrying the ordering keys of the last item returned, so the next
page starts strictly after it. Unlike OFFSET, this stays fast deep into a list and never
repeats or skips a row when rows are added meanwhile. Ordering keys must be non-null and
end with a unique key (the primary key is appended when missing).

Usage (``paginate`` from this module, not ninja's: see its docstring)::

    from steelyard.core.api.pagination import KeysetPagination, paginate

    @router.get("", response=list[ThingOut])
    @paginate(KeysetPagination, ordering=("-created_at", "-id"))
    def thing_list(request, filters: Query[ThingFilters]): ...
"""

from __future__ import annotations

import datetime as dt
import decimal
import typing
import uuid
from collections.abc import Callable
from typing import Any

from django.core import signing
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Field, Schema
from ninja.pagination import PaginationBase
from ninja.pagination import paginate as ninja_paginate

from steelyard.core.api.errors import INVALID_CURSOR, ApiError

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_SALT = "steelyard.api.cursor"

MSG_INVALID_CURSOR = _("This cursor is not valid. Start again from the first page.")


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    return value


def _invalid_cursor() -> ApiError:
    return ApiError(
        400,
        INVALID_CURSOR,
        str(MSG_INVALID_CURSOR),
        [{"field": "query.cursor", "message": str(MSG_INVALID_CURSOR)}],
    )


class KeysetPagination(PaginationBase):
    """Pages through a queryset by its ordering keys; see the module docstring."""

    class Input(Schema):
        limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page (1–500).")
        cursor: str | None = Field(None, description="The next_cursor of the previous page.")

    class Output(Schema):
        items: list[Any]
        next_cursor: str | None

    items_attribute = "items"

    def __init__(self, *, ordering: tuple[str, ...] = ("-id",), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        keys = tuple(ordering)
        if not any(k.lstrip("-") in ("id", "pk") for k in keys):
            keys = (*keys, "-id" if keys and keys[-1].startswith("-") else "id")
        self.ordering = keys
        self.fields = tuple(k.lstrip("-") for k in keys)

    # --- cursors ---------------------------------------------------------------------------
    def encode_cursor(self, item: Any) -> str:
        values = [_plain(self._value(item, f)) for f in self.fields]
        return signing.dumps({"o": list(self.ordering), "k": values}, salt=_SALT, compress=False)

    def decode_cursor(self, cursor: str) -> list[Any]:
        try:
            data = signing.loads(cursor, salt=_SALT)
        except (signing.BadSignature, ValueError, TypeError):
            raise _invalid_cursor()
        if (
            not isinstance(data, dict)
            or data.get("o") != list(self.ordering)
            or not isinstance(data.get("k"), list)
            or len(data["k"]) != len(self.fields)
        ):
            raise _invalid_cursor()
        return data["k"]

    @staticmethod
    def _value(item: Any, field: str) -> Any:
        value: Any = item
        for part in field.split("__"):
            value = value.get(part) if isinstance(value, dict) else getattr(value, part)
        return value

    def after(self, values: list[Any]) -> Q:
        """Rows strictly after ``values`` in this ordering: (a > x) or (a = x and b > y) or …"""
        q = Q()
        for i, key in enumerate(self.ordering):
            op = "lt" if key.startswith("-") else "gt"
            clause = Q(**{f"{self.fields[i]}__{op}": values[i]})
            for j in range(i):
                clause &= Q(**{self.fields[j]: values[j]})
            q |= clause
        return q

    # --- ninja hook --------------------------------------------------------------------------
    def paginate_queryset(
        self, queryset: QuerySet, pagination: Any, request: HttpRequest, **params: Any
    ) -> dict[str, Any]:
        limit = min(pagination.limit, MAX_LIMIT)
        qs = queryset.order_by(*self.ordering)
        if pagination.cursor:
            values = self.decode_cursor(pagination.cursor)
            try:
                qs = qs.filter(self.after(values))
            except (ValueError, TypeError, DjangoValidationError) as exc:
                # A well-signed cursor whose values no longer fit the field (e.g. after a change).
                raise _invalid_cursor() from exc
        rows = list(qs[: limit + 1])
        has_more = len(rows) > limit
        items = rows[:limit]
        return {
            "items": items,
            "next_cursor": self.encode_cursor(items[-1]) if has_more and items else None,
        }


def paginate(
    pagination_class: type[PaginationBase] | Callable[..., Any] = KeysetPagination, **params: Any
) -> Callable[..., Any]:
    """Ninja's ``@paginate``, safe with ``from __future__ import annotations``.

    Ninja wraps the view and then evaluates its string annotations (``"Query[Filters]"``) in
    ninja's own module, where the names are unknown; resolving them first, in the view's
    module, avoids the "QueryParams is not fully defined" error.
    """

    def decorator(func: Callable[..., Any]) -> Any:
        func.__annotations__ = typing.get_type_hints(func, include_extras=True)
        return ninja_paginate(pagination_class, **params)(func)

    if callable(pagination_class) and not isinstance(pagination_class, type):
        view, pagination_class = pagination_class, KeysetPagination
        return decorator(view)
    return decorator
