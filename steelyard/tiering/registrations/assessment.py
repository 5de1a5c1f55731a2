"""What the tiering assessment area adds to the shell."""
