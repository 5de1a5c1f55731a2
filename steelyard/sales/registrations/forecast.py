"""Registrations of the forecast area (menu entries, sections, search, approval kinds, jobs)."""
