"""Registrations of the playbooks area (menu entries, sections, search, approval kinds, jobs)."""
