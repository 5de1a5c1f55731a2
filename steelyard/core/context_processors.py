from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from steelyard.core.registry import registry


def shell(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"site_name": settings.STEELYARD_SITE_NAME}
    return {
        "site_name": settings.STEELYARD_SITE_NAME,
        "menu_items": registry.menu_for(user),
        "languages": settings.LANGUAGES,
    }
