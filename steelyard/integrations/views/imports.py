"""Integration imports screens."""
