"""What the tiering module registers, one module per area."""

from steelyard.tiering.registrations import analytics, assessment, overrides, strategy  # noqa: F401
