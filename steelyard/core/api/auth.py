"""How callers prove who they are to the API: a personal token, or the browser's session.

- ``TokenAuth``: ``Authorization: Bearer sy_…`` (or ``Token sy_…``). A refused token answers
  401 with the reason (expired, revoked, invalid) in the caller's language. The request then
  runs as the token's user, with that user's own roles, scopes and language.
- ``SessionAuth``: the signed-in browser. Unsafe methods must carry the CSRF token
  (``X-CSRFToken`` header). Machine users never authenticate this way.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import translation
from ninja.security import HttpBearer
from ninja.security import SessionAuth as NinjaSessionAuth
from ninja.utils import check_csrf

from steelyard.core.api.errors import CSRF_FAILED, MSG_CSRF, ApiError, TokenAuthenticationError
from steelyard.core.services.tokens import TokenRefused, api_token_authenticate

TOKEN_SCHEMES = ("bearer", "token")


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
