"""What the tier overrides area adds to the shell: the ``tiering.override`` approval kind, the customer
page's "Tier" section, the menu entries, the daily expiry job and the withdrawal subscriber."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from steelyard.core.events import subscribe
from steelyard.core.registry import MenuItem, Section, registry
from steelyard.core.services.approvals import approval_kind_register
from steelyard.tiering import tasks_overrides  # noqa: F401  (registers the expiry job)
from steelyard.tiering.services import overrides as services


def _describe(change: dict[str, Any]) -> list[tuple[Any, Any]]:
    from steelyard.tiering.models import Tier, TierModel
    from steelyard.tiering.selectors.customers import tier_label

    model = TierModel.objects.filter(code=change.get("model")).first()
    tiers = {t.code: t for t in Tier.objects.filter(model=model)} if model else {}

    def name(code: str) -> str:
        return tier_label(tiers.get(code), code) if code else str(_("No tier"))

    return [
        (_("Tier model"), model.name if model else change.get("model", "")),
        (_("From tier"), name(change.get("from_tier", ""))),
        (_("To tier"), name(change.get("tier", ""))),
        (_("In force until"), change.get("expires_on", "")),
    ]


approval_kind_register(
    services.KIND,
    label=_("Tier override"),
    on_approved=services.override_apply,
    on_rejected=services.override_reject,
    default_steps=[{"type": "manager", "level": 1}],
    subject_model="customers.Customer",
    describe_change=_describe,
)

subscribe("tiering.override_cancelled", services.on_approval_decided, wants=lambda t: t == "approval.decided")


def _tier_section(request, customer):  # type: ignore[no-untyped-def]
    from steelyard.tiering.views.customers import tier_section_context

    return tier_section_context(request, customer)


registry.add_section(
    "customers.customer",
    Section("tier", _("Tier"), "tiering/customers/_section_tier.html", _tier_section, order=7),
)
registry.add_menu(
    MenuItem(
        "tiering.my_customers",
        _("My customers by tier"),
        "tier_my_customers",
        icon="bar-chart-steps",
        group=_("Sales"),
        order=203,
    )
)
registry.add_menu(
    MenuItem(
        "tiering.reviews",
        _("Tier review"),
        "tier_reviews",
        icon="clipboard-data",
        roles=("sales_manager", "sales_director", "executive"),
        group=_("Sales"),
        order=245,
    )
)
