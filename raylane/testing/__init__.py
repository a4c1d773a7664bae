"""Helpers for tests and benchmarks (the simulated multi-node cluster); never imported by the platform."""
