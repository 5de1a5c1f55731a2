"""What the customer-messages area adds to the shell and to the event bus.

- the subscriber that turns customer-facing events into messages (``messages.customer``);
- the "Customer notifications" section of the customer page and the "Share status link" section
  of the order page;
- menu entries for the message log and (administrators) the message templates;
- the periodic job that sends due messages (``tasks_messages``).
"""

from django.utils.translation import gettext_lazy as _

from steelyard.core.events import subscribe
from steelyard.core.registry import MenuItem, Section, registry
from steelyard.integrations import tasks_messages  # noqa: F401  (registers the periodic job)


def _on_customer_event(event):  # type: ignore[no-untyped-def]
    from steelyard.integrations.services.messages import on_customer_event

    on_customer_event(event)


def _endpoints_section(request, customer):  # type: ignore[no-untyped-def]
    from steelyard.integrations.views.messages import endpoints_section

    return endpoints_section(request, customer)


def _order_share_section(request, order):  # type: ignore[no-untyped-def]
    from steelyard.integrations.views.messages import order_share_section

    return order_share_section(request, order)


def _customer_facing(event_type: str) -> bool:
    from steelyard.core.events import event_type as _event_type

    et = _event_type(event_type)
    return et is not None and et.customer_facing


subscribe("messages.customer", _on_customer_event, wants=_customer_facing)

registry.add_section(
    "customers.customer",
    Section(
        "notifications",
        _("Customer notifications"),
        "integrations/messages/_section_endpoints.html",
        _endpoints_section,
        order=70,
    ),
)
registry.add_section(
    "orders.order",
    Section(
        "status_link",
        _("Share status link"),
        "integrations/messages/_section_share_link.html",
        _order_share_section,
        order=80,
    ),
)
registry.add_menu(
    MenuItem(
        "integrations.messages",
        _("Customer messages"),
        "message_list",
        icon="send",
        group=_("Orders"),
        order=350,
    )
)
registry.add_menu(
    MenuItem(
        "integrations.message_templates",
        _("Message templates"),
        "message_template_list",
        icon="chat-square-text",
        roles=("administrator",),
        group=_("Integrations"),
        order=885,
    )
)
