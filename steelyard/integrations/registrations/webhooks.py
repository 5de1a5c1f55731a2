"""What the integration webhooks area adds to the shell and to the event bus."""
