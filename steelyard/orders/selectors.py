"""Orders selectors."""
