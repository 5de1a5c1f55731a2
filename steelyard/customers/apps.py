from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "steelyard.customers"
    label = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        from steelyard.customers import registrations  # noqa: F401
