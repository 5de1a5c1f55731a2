from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TieringConfig(AppConfig):
    name = "steelyard.tiering"
    label = "tiering"
    verbose_name = _("Customer tiers")

    def ready(self) -> None:
        from steelyard.tiering import registrations  # noqa: F401
