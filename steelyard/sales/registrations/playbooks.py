"""Registrations of the playbooks area: the "Playbooks" menu entry for those who edit them."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from steelyard.core.registry import MenuItem, registry

registry.add_menu(
    MenuItem(
        "sales.playbooks",
        _("Playbooks"),
        "sales_playbook_list",
        icon="signpost-split",
        roles=("administrator", "sales_director"),
        group=_("Sales"),
        order=262,
    )
)
