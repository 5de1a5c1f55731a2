"""What the tiering module registers, one module per area."""

from steelyard.tiering.registrations import analytics, assessment, models_admin, overrides, strategy  # noqa: F401
