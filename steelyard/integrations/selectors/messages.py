"""Integration messages selectors."""
