"""How callers prove who they are to the API: a personal token, or the browser's session.

- ``TokenAuth``: ``Authorization: Bearer sy_…`` (or ``Token sy_…``). A refused token answers
  401 with the reason (expired, revoked, invalid) in the caller's language. The request then
  runs as the token's user, with that user's own roles, scopes and language.
- ``SessionAuth``: the signed-in browser. Unsafe methods must carry the CSRF token
  (``X-CSRFToken`` header). Machine users never authenticate this way.

Machine users (``User.is_machine``: the integration users of external systems) write only through
the integration API: with a token they may call ``/api/v1/integrations/inbound/…`` and
``GET /api/v1/me``; every other route answers 403 (:func:`machine_may_call`).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from ninja.security import HttpBearer
from ninja.security import SessionAuth as NinjaSessionAuth
from ninja.utils import check_csrf

from steelyard.core.api.errors import CSRF_FAILED, FORBIDDEN, MSG_CSRF, ApiError, TokenAuthenticationError
from steelyard.core.services.tokens import TokenRefused, api_token_authenticate

TOKEN_SCHEMES = ("bearer", "token")

#: What a machine user may call, relative to the API root: (method or None for any, path prefix).
MACHINE_ROUTES: tuple[tuple[str | None, str], ...] = ((None, "integrations/inbound/"), ("GET", "me"))
MSG_MACHINE_FORBIDDEN = _("Integration users may only use the integration API.")


def machine_may_call(request: HttpRequest) -> bool:
    """Whether a machine user may make this API request (see the module docstring)."""
    root = reverse("api:openapi-json").rsplit("openapi.json", 1)[0]
    path = request.path_info
    if not path.startswith(root):
        return False
    rest = path[len(root) :]
    for method, prefix in MACHINE_ROUTES:
        if method is not None and request.method not in (method, "HEAD"):
            continue
        if rest.rstrip("/") == prefix.rstrip("/") or (prefix.endswith("/") and rest.startswith(prefix)):
            return True
    return False


def act_as(request: HttpRequest, user: Any) -> None:
    """Make the rest of the request run as ``user``: scopes, audit actor and language."""
    request.user = user
    if getattr(user, "language", ""):
        translation.activate(user.language)
        request.LANGUAGE_CODE = user.language  # type: ignore[attr-defined]


class TokenAuth(HttpBearer):
    """A personal API token in the Authorization header."""

    def __call__(self, request: HttpRequest) -> Any:
        value = request.headers.get(self.header, "")
        scheme, _sep, credentials = value.partition(" ")
        if not value or scheme.lower() not in TOKEN_SCHEMES:
            return None  # not ours: let the session have a go
        return self.authenticate(request, credentials.strip())

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        try:
            api_token = api_token_authenticate(token)
        except TokenRefused as refused:
            raise TokenAuthenticationError(str(refused.message))
        request.api_token = api_token  # type: ignore[attr-defined]
        act_as(request, api_token.user)
        if getattr(api_token.user, "is_machine", False) and not machine_may_call(request):
            raise ApiError(403, FORBIDDEN, str(MSG_MACHINE_FORBIDDEN))
        return api_token.user


class SessionAuth(NinjaSessionAuth):
    """Django's session, with CSRF enforced on unsafe methods; never for machine users."""

    def __call__(self, request: HttpRequest) -> Any:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_active:
            return None
        if getattr(user, "is_machine", False):
            return None
        # check_csrf lets safe methods (GET, HEAD, OPTIONS) through, like Django's middleware.
        if self.csrf and not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request):
            raise ApiError(403, CSRF_FAILED, str(MSG_CSRF))
        return user

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:  # pragma: no cover
        return self(request)
