"""Runs: each background workload as a Postgres row with a state machine, run as a Ray job."""
