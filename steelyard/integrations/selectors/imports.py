"""Integration imports selectors."""
