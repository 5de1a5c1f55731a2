"""What the integration messages area adds to the shell and to the event bus."""
