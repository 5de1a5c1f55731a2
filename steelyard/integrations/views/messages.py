"""Integration messages screens."""
