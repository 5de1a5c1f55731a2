"""Integration messages services."""
