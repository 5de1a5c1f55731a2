"""Integration systems services."""
