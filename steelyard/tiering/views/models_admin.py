"""Tiering models_admin screens."""
