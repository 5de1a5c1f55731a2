"""Integration systems screens."""
