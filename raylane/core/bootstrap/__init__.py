"""First start: the platform organization and its owner, and the demo project."""
