"""What the tier-model administration area adds to the shell: the "Tier models" menu entry."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from steelyard.core.registry import MenuItem, registry

registry.add_menu(
    MenuItem(
        "tiering.models",
        _("Tier models"),
        "tier_model_list",
        icon="bar-chart-steps",
        roles=("administrator",),
        group=_("Customer tiers"),
        order=852,
    )
)
