"""Orders forms."""
