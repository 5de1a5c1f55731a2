"""Registrations of the pipeline area (menu entries, sections, search, approval kinds, jobs)."""
