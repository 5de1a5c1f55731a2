"""Error pages in the user's language; JSON in the API's one error format under /api/.

Django calls these for errors raised outside an API operation: an unknown URL (404), a
refused request (400/403) or a crash (500). Inside an operation, ``core/api/errors.py`` answers.
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from steelyard.core.api import errors as api_errors


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _respond(request: HttpRequest, status: int, code: str, message: str) -> HttpResponse:
    if _is_api(request):
        return api_errors.error_response(status, code, str(message))
    try:
        return render(request, "errors/error.html", {"status": status, "message": message}, status=status)
    except Exception:  # noqa: BLE001 - an error page must never fail in turn
        return HttpResponse(str(message), status=status, content_type="text/plain; charset=utf-8")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):
        return _respond(request, 413, api_errors.PAYLOAD_TOO_LARGE, api_errors.MSG_TOO_LARGE)
    return _respond(request, 400, api_errors.BAD_REQUEST, api_errors.MSG_BAD_REQUEST)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _respond(request, 403, api_errors.FORBIDDEN, api_errors.MSG_FORBIDDEN)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _respond(request, 404, api_errors.NOT_FOUND, api_errors.MSG_NOT_FOUND)


def server_error(request: HttpRequest) -> HttpResponse:
    return _respond(request, 500, api_errors.SERVER_ERROR, api_errors.MSG_SERVER_ERROR)
