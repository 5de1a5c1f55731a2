"""Error pages in the user's language; JSON in the API's one error format under /api/."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _respond(request: HttpRequest, status: int, code: str, message: str) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"error": {"code": code, "message": message, "fields": []}}, status=status)
    return render(request, "errors/error.html", {"status": status, "message": message}, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _respond(request, 400, "bad_request", _("The request could not be understood."))


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _respond(request, 403, "forbidden", _("You do not have permission to do this."))


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _respond(
        request, 404, "not_found", _("This page does not exist, or you do not have access to it.")
    )


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            {
                "error": {
                    "code": "server_error",
                    "message": _("Something went wrong on our side."),
                    "fields": [],
                }
            },
            status=500,
        )
    return render(
        request,
        "errors/error.html",
        {"status": 500, "message": _("Something went wrong on our side.")},
        status=500,
    )
