"""The request in flight (id, IP, user) for services that record audit rows."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    ip: str | None = None
    memo: dict[Hashable, Any] | None = None  # per-request memo; None outside a request


_current: contextvars.ContextVar[RequestContext] = contextvars.ContextVar(
    "steelyard_request", default=RequestContext()
)


def current() -> RequestContext:
    return _current.get()


def set_current(ctx: RequestContext) -> contextvars.Token:
    return _current.set(ctx)


def reset(token: contextvars.Token) -> None:
    _current.reset(token)


def request_memo(key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()`` once per request for ``key`` (e.g. a user's team or pool ids, read by every section of
    a page); outside a request (tasks, shells, tests calling selectors) it is computed every time."""
    memo = _current.get().memo
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]
