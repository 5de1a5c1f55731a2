"""Orders filters."""
