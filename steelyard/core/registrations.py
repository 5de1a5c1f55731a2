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

# --- domain events published by the platform ---
from steelyard.core.events import declare as _declare_event  # noqa: E402

_declare_event(
    "approval.requested", _("Approval requested"), _("Someone asked for an approval (for the OA system).")
)
_declare_event(
    "approval.decided", _("Approval decided"), _("An approval was approved, rejected or cancelled.")
)
