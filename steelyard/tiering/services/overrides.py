"""Tiering overrides services."""
