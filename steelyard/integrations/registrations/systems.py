"""What the integration console adds to the shell: its menu entry (administrators)."""

from django.utils.translation import gettext_lazy as _

from steelyard.core.registry import MenuItem, registry

registry.add_menu(
    MenuItem(
        "integrations.console",
        _("Console"),
        "integrations_console",
        icon="plug",
        roles=("administrator",),
        group=_("Integrations"),
        order=860,
    )
)
