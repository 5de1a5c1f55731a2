"""Access policies for routes: every URL pattern declares one, or it is refused.

A view declares its policy with one of the decorators below. ``AccessPolicyMiddleware``
enforces it and refuses any view that declares none (deny by default); a test walks
the URL resolver and fails on a route without a policy.

Policies:
- ``public``: anyone, signed in or not (login page, manifest, signed customer links).
- ``authenticated``: any active signed-in user; the view scopes its records itself.
- ``roles(...)``: signed-in users holding one of the named roles (administrators always pass).
- ``api``: django-ninja routes; each operation carries its own ``auth``.
- ``admin-site``: Django's admin site, which checks ``is_staff`` itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from django.urls import URLPattern, URLResolver

PUBLIC = "public"
AUTHENTICATED = "authenticated"
API = "api"
ADMIN_SITE = "admin-site"

ADMINISTRATOR = "administrator"


def _mark(view: Callable, policy: str, roles: tuple[str, ...] = ()) -> Callable:
    view.access_policy = policy  # type: ignore[attr-defined]
    view.access_roles = roles  # type: ignore[attr-defined]
    return view


def public(view: Callable) -> Callable:
    return _mark(view, PUBLIC)


def authenticated(view: Callable) -> Callable:
    return _mark(view, AUTHENTICATED)


def roles(*codes: str) -> Callable[[Callable], Callable]:
    def decorator(view: Callable) -> Callable:
        return _mark(view, "roles", tuple(codes))

    return decorator


def admin_only(view: Callable) -> Callable:
    return _mark(view, "roles", (ADMINISTRATOR,))


def user_has_role(user: Any, *codes: str) -> bool:
    """True when the user holds any of ``codes`` (superusers and administrators hold all)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    held = getattr(user, "_role_codes", None)
    if held is None:
        held = set(user.roles.values_list("code", flat=True))
        user._role_codes = held
    return ADMINISTRATOR in held or bool(held.intersection(codes))


def mark_patterns(patterns: Iterable[URLPattern | URLResolver], policy: str) -> list:
    """Declare ``policy`` on third-party patterns (admin site, ninja) without touching their views."""
    marked = []
    for p in patterns:
        if isinstance(p, URLResolver):
            marked.append(
                URLResolver(
                    p.pattern,
                    mark_patterns(p.url_patterns, policy),
                    p.default_kwargs,
                    p.app_name,
                    p.namespace,
                )
            )
        else:
            callback = p.callback

            @functools.wraps(callback)
            def wrapped(*args: Any, __cb: Callable = callback, **kwargs: Any) -> Any:
                return __cb(*args, **kwargs)

            for attr in ("csrf_exempt", "login_required"):
                if hasattr(callback, attr):
                    setattr(wrapped, attr, getattr(callback, attr))
            _mark(wrapped, policy)
            marked.append(URLPattern(p.pattern, wrapped, p.default_args, p.name))
    return marked
