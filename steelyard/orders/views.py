"""Orders views."""
