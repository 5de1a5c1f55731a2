"""Catalogue selectors."""
