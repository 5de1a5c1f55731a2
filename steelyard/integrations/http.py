"""A small HTTP POST helper for outbound calls (webhooks, WeCom robots), with timeouts, on urllib.

::

    from steelyard.integrations.http import HttpPostError, post_json

    try:
        status, excerpt = post_json(url, body, {"X-Steelyard-Event": "order.created"}, timeout=10)
    except HttpPostError as exc:  # no HTTP answer at all: DNS, refused, TLS, timeout
        ...

Any HTTP answer, 2xx or not, is returned as ``(status_code, first characters of the body)``;
only the absence of an answer raises. Redirects are not followed (a 3xx is returned as is):
a signed POST must not be replayed to another address, and urllib would turn it into a GET.
"""

from __future__ import annotations

import http.client
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from urllib.parse import urlsplit

__all__ = ["DEFAULT_TIMEOUT", "EXCERPT_CHARS", "HttpPostError", "post_json"]

DEFAULT_TIMEOUT = 10.0  # seconds, for connecting and for each read
EXCERPT_CHARS = 500
_READ_BYTES = 4096
USER_AGENT = "Steelyard-Webhooks/1"


class HttpPostError(Exception):
    """The request got no HTTP answer (bad URL, DNS, connection refused, TLS, timeout)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None  # the 3xx surfaces as an HTTPError, i.e. a plain status code


_opener = urllib.request.build_opener(_NoRedirect)


def _excerpt(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")[:EXCERPT_CHARS]


def post_json(
    url: str,
    body_bytes: bytes,
    headers: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> tuple[int, str]:
    """POST ``body_bytes`` (JSON) to ``url``; returns ``(status_code, response_text_excerpt)``.

    Raises :class:`HttpPostError` with a readable message when there is no HTTP answer.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise HttpPostError(f"unsupported URL scheme {scheme or '(none)'!r}: use http or https")
    all_headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
    all_headers.update(headers or {})
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above: http(s) only
        url, data=body_bytes, headers=all_headers, method="POST"
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            return response.status, _excerpt(response.read(_READ_BYTES))
    except urllib.error.HTTPError as exc:  # an HTTP answer that is not 2xx: not a network error
        try:
            raw = exc.read(_READ_BYTES)
        except Exception:  # noqa: BLE001 - the body of an error answer is optional
            raw = b""
        finally:
            exc.close()
        return exc.code, _excerpt(raw)
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            raise HttpPostError(f"timed out after {timeout:g} s") from exc
        if isinstance(reason, ssl.SSLError):
            raise HttpPostError(f"TLS error: {reason}") from exc
        raise HttpPostError(f"connection failed: {reason}") from exc
    except TimeoutError as exc:
        raise HttpPostError(f"timed out after {timeout:g} s") from exc
    except (http.client.HTTPException, OSError, ValueError) as exc:
        raise HttpPostError(f"{type(exc).__name__}: {exc}") from exc
