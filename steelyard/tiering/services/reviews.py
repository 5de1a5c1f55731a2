"""Tiering reviews services."""
