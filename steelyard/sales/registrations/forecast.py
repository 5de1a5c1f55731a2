"""Registrations of the forecast area: the "Forecast" menu entry and the weekly snapshot job.

The pages are open to every signed-in user and scoped (a rep sees their own figures); the menu offers
them to everyone in sales.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from steelyard.core.registry import MenuItem, registry
from steelyard.org.roles import EXECUTIVE, SALES_DIRECTOR, SALES_MANAGER, SALES_REP
from steelyard.sales import tasks_forecast  # noqa: F401  (registers the weekly snapshot job)

registry.add_menu(
    MenuItem(
        "sales.forecast",
        _("Forecast"),
        "sales_forecast",
        icon="graph-up-arrow",
        roles=(SALES_REP, SALES_MANAGER, SALES_DIRECTOR, EXECUTIVE),
        group=_("Sales"),
        order=256,
    )
)
