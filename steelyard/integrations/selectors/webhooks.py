"""Integration webhooks selectors."""
