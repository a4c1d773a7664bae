"""Versioned, content-addressed labeled datasets (uploaded, or materialised from a collection)."""
