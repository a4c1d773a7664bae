"""Token quotas per organization per day, and usage accounting."""
