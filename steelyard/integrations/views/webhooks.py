"""Integration webhooks screens."""
