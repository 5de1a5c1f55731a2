"""Catalogue forms."""
