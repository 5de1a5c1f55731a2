"""Integration systems selectors."""
