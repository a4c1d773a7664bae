"""Runs: every background workload, as a Postgres row with a state machine, executed as a Ray job."""
