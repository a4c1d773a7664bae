"""Adapters to the outside world: database, Redis, object storage, Ray, models. No domain imports."""
