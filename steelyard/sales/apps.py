from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SalesConfig(AppConfig):
    name = "steelyard.sales"
    label = "sales"
    verbose_name = _("Sales")

    def ready(self) -> None:
        from steelyard.sales import registrations  # noqa: F401
