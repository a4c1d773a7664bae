"""Adapters to the outside world: database, Redis, object storage, Ray and models.

Nothing here imports the domain (raylane.core); both import settings and errors from below.
"""
