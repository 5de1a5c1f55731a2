"""Catalogue services."""
