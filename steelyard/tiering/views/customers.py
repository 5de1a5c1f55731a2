"""Tiering customers screens."""
