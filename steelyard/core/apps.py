from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "steelyard.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self) -> None:
        from steelyard.core import approval_kinds, registrations  # noqa: F401
