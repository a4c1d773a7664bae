"""API keys: random, shown once, stored hashed, prefixed, scoped, expiring, revocable."""
