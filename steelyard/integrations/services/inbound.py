"""Integration inbound services."""
