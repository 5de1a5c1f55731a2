"""Registrations of the pipeline area: the menu entries of the board, the funnel and the managers' risk
list, and the daily risk job (``steelyard.sales.tasks``).

The pages are open to every signed-in user and scoped (a rep sees their own deals); the risk list is
offered in the menu to managers, who watch their team's risks there.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from steelyard.core.registry import MenuItem, registry
from steelyard.sales import tasks  # noqa: F401  (registers the daily risk job)

registry.add_menu(
    MenuItem("sales.board", _("Pipeline board"), "sales_board", icon="kanban", group=_("Sales"), order=252)
)
registry.add_menu(
    MenuItem(
        "sales.risks",
        _("Deal risks"),
        "sales_risks",
        icon="exclamation-triangle",
        roles=("sales_manager", "sales_director", "executive"),
        group=_("Sales"),
        order=253,
    )
)
registry.add_menu(
    MenuItem("sales.funnel", _("Funnel"), "sales_funnel", icon="funnel", group=_("Sales"), order=254)
)
