"""What the tiering overrides area adds to the shell."""
