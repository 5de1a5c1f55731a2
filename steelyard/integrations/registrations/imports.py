"""What the integration imports area adds to the shell and to the event bus."""
