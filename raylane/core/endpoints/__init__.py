"""Endpoints: one stable and at most one canary version of a model or a copilot configuration,
split by weight; copilot configurations (versioned bundles); per-version traffic statistics."""
