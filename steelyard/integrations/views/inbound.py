"""Integration inbound screens."""
