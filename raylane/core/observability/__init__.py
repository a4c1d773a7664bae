"""The per-organization operations summary."""
