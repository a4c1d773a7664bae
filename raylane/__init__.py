"""Raylane: a multi-tenant AI platform on Ray."""

__version__ = "0.1.0"
