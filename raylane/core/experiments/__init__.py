"""Experiments and their tracking runs: params, metric series, tags and artifacts."""
