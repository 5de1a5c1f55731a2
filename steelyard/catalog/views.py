"""Catalogue views."""
