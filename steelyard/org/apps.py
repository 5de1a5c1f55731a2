from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrgConfig(AppConfig):
    name = "steelyard.org"
    label = "org"
    verbose_name = _("Organisation")

    def ready(self) -> None:
        from steelyard.org import registrations  # noqa: F401
