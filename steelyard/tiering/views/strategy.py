"""Tiering strategy screens."""
