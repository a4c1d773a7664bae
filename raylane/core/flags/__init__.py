"""Feature flags per organization."""
