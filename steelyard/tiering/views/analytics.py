"""Tiering analytics screens."""
