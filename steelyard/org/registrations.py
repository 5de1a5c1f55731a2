"""What the org module adds to the shell: menu entries, search, home widgets."""
