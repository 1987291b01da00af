"""Example third-party plugins for dimred."""
