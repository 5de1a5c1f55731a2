"""Integration webhooks services."""
