"""Tiering analytics selectors."""
