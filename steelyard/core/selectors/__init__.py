"""Reads: scoped querysets for views, API routes and exports."""
