"""What the tiering analytics area adds to the shell: the "Tier analytics" menu entry.

The page itself is open to every signed-in user and scoped (a rep sees their own customers'
figures); the menu offers it to the people who steer by tiers: sales managers and directors,
executives, marketing and administrators.
"""

from django.utils.translation import gettext_lazy as _

from steelyard.core.registry import MenuItem, registry

registry.add_menu(
    MenuItem(
        "tiering.analytics",
        _("Tier analytics"),
        "tier_analytics",
        icon="bar-chart-line",
        roles=("sales_manager", "sales_director", "executive", "marketing"),
        group=_("Customer tiers"),
        order=850,
    )
)
