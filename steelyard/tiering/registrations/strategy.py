"""What the tiering strategy area adds to the shell."""
