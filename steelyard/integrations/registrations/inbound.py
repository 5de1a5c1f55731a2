"""What the integration inbound area adds to the shell and to the event bus."""
