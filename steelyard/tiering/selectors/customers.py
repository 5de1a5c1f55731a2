"""Tiering customers selectors."""
