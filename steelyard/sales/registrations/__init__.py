"""What the sales module registers, one module per area."""

from steelyard.sales.registrations import forecast, opportunities, pipeline, playbooks, quotes  # noqa: F401
