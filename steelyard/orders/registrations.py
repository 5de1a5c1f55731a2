"""What the orders module adds to the shell: menu entries, search, home widgets, 360 sections."""
