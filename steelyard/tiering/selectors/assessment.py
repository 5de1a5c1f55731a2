"""Tiering assessment selectors."""
