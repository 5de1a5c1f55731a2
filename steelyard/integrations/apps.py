from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    name = "steelyard.integrations"
    label = "integrations"
    verbose_name = _("Integrations")

    def ready(self) -> None:
        from steelyard.integrations import registrations  # noqa: F401
