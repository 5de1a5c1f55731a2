"""Order-to-cash writes from external systems (called by the integration handlers)."""
