"""What the catalog module adds to the shell: menu entries, search, home widgets, 360 sections."""
