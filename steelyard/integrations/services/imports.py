"""Integration imports services."""
