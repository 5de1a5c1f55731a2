"""What the integrations module registers, one module per area."""

from django.utils.translation import gettext_lazy as _

from steelyard.core.events import declare as _declare_event
from steelyard.integrations.registrations import imports, inbound, messages, systems, webhooks  # noqa: F401

# Published by the sales module (issue 6) when an opportunity is won; declared here so the ERP can
# subscribe to it now.
_declare_event(
    "opportunity.won",
    _("Opportunity won"),
    _("A sales opportunity was won: the ERP should expect a contract."),
)
