"""Tiering strategy services."""
