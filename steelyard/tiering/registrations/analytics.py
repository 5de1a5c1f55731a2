"""What the tiering analytics area adds to the shell."""
