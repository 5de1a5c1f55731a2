from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrdersConfig(AppConfig):
    name = "steelyard.orders"
    label = "orders"
    verbose_name = _("Orders")

    def ready(self) -> None:
        from steelyard.orders import registrations  # noqa: F401
