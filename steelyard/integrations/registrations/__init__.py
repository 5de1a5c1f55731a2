"""What the integrations module registers, one module per area."""

from steelyard.integrations.registrations import imports, inbound, messages, systems, webhooks  # noqa: F401
