"""The per-user API rate limit (``settings.API_RATE_LIMIT``, e.g. "600/min").

A fixed window counted in the Django cache: one ``incr`` per request, keyed by user id (or by
IP for anonymous callers). Over the limit the API answers 429 with ``Retry-After`` set to the
seconds left in the window. The setting is read on every request so it can be changed live.
"""

from __future__ import annotations

import math
import re
import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from ninja.throttling import BaseThrottle

from steelyard.core.middleware import client_ip

_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$")


def parse_rate(rate: str) -> tuple[int, int] | None:
    """``"600/min"`` → ``(600, 60)``; ``"100/5m"`` → ``(100, 300)``; empty or "off" → None."""
    if not rate or rate.strip().lower() in ("off", "none", "0"):
        return None
    match = _RATE.match(rate.lower())
    if not match or match.group(3) not in _UNITS:
        raise ValueError(f"Invalid API_RATE_LIMIT: {rate!r}")
    count, multiplier, unit = match.groups()
    return int(count), int(multiplier or 1) * _UNITS[unit]


class UserRateThrottle(BaseThrottle):
    """Limit each user (or anonymous IP) to ``settings.API_RATE_LIMIT`` requests per window."""

    cache_prefix = "api-rate"

    def __init__(self) -> None:
        # One instance serves every request thread; the wait belongs to the thread's request.
        self._local = threading.local()

    def ident(self, request: HttpRequest) -> str:
        user = getattr(request, "auth", None) or getattr(request, "user", None)
        if user is not None and getattr(user, "is_authenticated", False):
            return f"u{user.pk}"
        return f"ip{client_ip(request) or 'unknown'}"

    def allow_request(self, request: HttpRequest) -> bool:
        self._local.wait = None
        rate = parse_rate(getattr(settings, "API_RATE_LIMIT", ""))
        if rate is None:
            return True
        limit, period = rate
        now = time.time()
        window = int(now // period)
        key = f"{self.cache_prefix}:{self.ident(request)}:{period}:{window}"
        # add() is a no-op when the key exists; incr() is atomic on real cache backends.
        cache.add(key, 0, timeout=period + 1)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=period + 1)
            count = 1
        if count <= limit:
            return True
        self._local.wait = max(1, math.ceil((window + 1) * period - now))
        return False

    def wait(self) -> float | None:
        return getattr(self._local, "wait", None)
