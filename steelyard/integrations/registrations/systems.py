"""What the integration systems area adds to the shell and to the event bus."""
