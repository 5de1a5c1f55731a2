"""Integration inbound selectors."""
