"""What the integration imports area adds to the shell and to the event bus."""

from django.utils.translation import gettext_lazy as _

from steelyard.core.registry import MenuItem, registry

registry.add_menu(
    MenuItem(
        "integrations.imports",
        _("File imports"),
        "integrations_import_list",
        icon="file-earmark-arrow-up",
        roles=("administrator", "finance"),
        group=_("Integrations"),
        order=870,
    )
)
