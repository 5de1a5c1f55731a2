"""Template context every page of the shell needs: brand, menu, languages, the user's initial."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from steelyard.core.registry import registry


def shell(request: HttpRequest) -> dict[str, Any]:
    # ``brand`` because auth's LoginView overrides ``site_name`` with the request's host name.
    base: dict[str, Any] = {
        "site_name": settings.STEELYARD_SITE_NAME,
        "brand": settings.STEELYARD_SITE_NAME,
        "languages": settings.LANGUAGES,
    }
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return base
    return {
        **base,
        # A callable: templates that never show the menu (error pages) never query roles.
        "menu_items": lambda: registry.menu_for(user),
        "user_initial": (str(user).strip()[:1] or "?").upper(),
    }
