from __future__ import annotations

import uuid
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import translation

from steelyard.core import access, request_context


def client_ip(request: HttpRequest) -> str | None:
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR") if settings.PRODUCTION else None
    if forwarded:
        return forwarded.split(",")[0].strip()
    return request.META.get("REMOTE_ADDR")


class RequestContextMiddleware:
    """Give every request an id (echoed as ``X-Request-ID``) that audit rows carry."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        rid = incoming[:64] if incoming and incoming.replace("-", "").isalnum() else uuid.uuid4().hex
        request.request_id = rid  # type: ignore[attr-defined]
        token = request_context.set_current(
            request_context.RequestContext(request_id=rid, ip=client_ip(request), memo={})
        )
        try:
            response = self.get_response(request)
        finally:
            request_context.reset(token)
        response["X-Request-ID"] = rid
        return response


class UserLanguageMiddleware:
    """Pick the UI language: the signed-in user's saved choice, else the language cookie, else zh-hans.

    Pages ignore the browser's Accept-Language on purpose: Steelyard is Chinese by default and
    English is a per-user choice. The API still honours Accept-Language (set by LocaleMiddleware)
    for machine clients without a saved language.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        lang = getattr(user, "language", "") if user is not None and user.is_authenticated else ""
        if not lang and not request.path.startswith("/api/"):
            cookie = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
            lang = cookie if cookie in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
        if lang:
            translation.activate(lang)
            request.LANGUAGE_CODE = lang  # type: ignore[attr-defined]
        response = self.get_response(request)
        if lang:
            response.headers["Content-Language"] = lang
        return response


class AccessPolicyMiddleware:
    """Enforce each view's declared access policy; refuse views that declare none."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func: Callable, view_args: tuple, view_kwargs: dict):
        policy = getattr(view_func, "access_policy", None)
        if policy is None:
            # Class-based views expose their class on view_class.
            policy = getattr(getattr(view_func, "view_class", None), "access_policy", None)
        if policy in (access.PUBLIC, access.API, access.ADMIN_SITE):
            return None
        if policy is None:
            raise Http404("No access policy declared for this route.")
        user = request.user
        # Machine users (integrations) act only through the API, never through pages.
        if not user.is_authenticated or not user.is_active or getattr(user, "is_machine", False):
            return redirect_to_login(request.get_full_path())
        if policy == "roles":
            codes = getattr(view_func, "access_roles", ()) or getattr(
                getattr(view_func, "view_class", None), "access_roles", ()
            )
            if not access.user_has_role(user, *codes):
                raise PermissionDenied
        return None
