"""The API's interactive documentation, served from our own static files under our CSP.

Swagger UI comes from django-ninja's bundled copy (``ninja/static/ninja``), never from a CDN;
our template has no inline script: ``static/js/api-docs.js`` starts Swagger UI from ``data-*``
attributes. The docs page needs a signed-in (non-machine) user; the OpenAPI schema also
accepts an API token, so integration clients can fetch it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from ninja.errors import HttpError
from ninja.openapi.docs import DocsBase

from steelyard.core.api.auth import TokenAuth
from steelyard.core.api.errors import MSG_UNAUTHORIZED, UNAUTHORIZED, error_response

if TYPE_CHECKING:
    from ninja import NinjaAPI


class LocalSwagger(DocsBase):
    """Swagger UI rendered by ``core/api_docs.html`` from local static files."""

    template = "core/api_docs.html"

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any) -> HttpResponse:
        context = {"api": api, "openapi_url": self.get_openapi_url(api, kwargs)}
        return render(request, self.template, context)


def _browser_user(request: HttpRequest) -> Any:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_active and not user.is_machine:
        return user
    return None


def docs_login_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Docs page: session only. Schema: session or API token; JSON 401 otherwise."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        wants_schema = request.path.endswith(".json")
        if _browser_user(request) is None:
            if not wants_schema:
                return redirect_to_login(request.get_full_path())
            try:
                user = TokenAuth()(request)
            except HttpError as refused:
                return error_response(401, UNAUTHORIZED, str(refused))
            if not user:
                return error_response(401, UNAUTHORIZED, str(MSG_UNAUTHORIZED))
        return view(request, *args, **kwargs)

    return wrapped
