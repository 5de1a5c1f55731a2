"""Registrations of the quotes area (menu entries, sections, search, approval kinds, jobs)."""
