"""Template context every page of the shell needs: brand, menu, languages, the user's initial."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

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
    menu: list[Any] = []

    def menu_items() -> list[Any]:
        if not menu:
            menu.extend(registry.menu_for(user))
        return menu

    active: list[str] = []

    def active_menu() -> str:
        """The entry whose URL is the longest prefix of this page (/customers/pool/ is not 'Customers').

        Worked out once per request: the menu templates ask for it once per entry."""
        if active:
            return active[0]
        best, best_len = "", 0
        for item in menu_items():
            try:
                url = reverse(item.url_name)
            except NoReverseMatch:
                continue
            if request.path.startswith(url) and len(url) > best_len:
                best, best_len = item.key, len(url)
        active.append(best)
        return best

    return {
        **base,
        # Callables: templates that never show the menu (error pages) never query roles.
        "menu_items": menu_items,
        "active_menu": active_menu,
        "user_initial": (str(user).strip()[:1] or "?").upper(),
    }
