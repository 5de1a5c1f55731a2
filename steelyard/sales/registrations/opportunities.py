"""Registrations of the opportunities area (menu entries, sections, search, approval kinds, jobs)."""
