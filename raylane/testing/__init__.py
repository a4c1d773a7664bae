"""Helpers for tests and benchmarks (the simulated multi-node cluster).

Never imported by the platform itself.
"""
