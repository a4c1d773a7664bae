"""Ray job entrypoints, one per workload: ``python -m raylane.jobs.<kind> --run-id <uuid>``."""
