"""Tiering models_admin services."""
