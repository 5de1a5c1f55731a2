"""What the core module adds to the shell (approvals register themselves in ``approval_kinds``)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from steelyard.core.registry import MenuItem, registry

registry.add_menu(
    MenuItem(
        "core.jobs",
        _("Background jobs"),
        "job_list",
        icon="hourglass-split",
        group=_("Organisation"),
        order=950,
    )
)
