"""Catalogue filters."""
