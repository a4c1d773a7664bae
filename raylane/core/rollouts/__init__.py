"""Rollouts: progressive delivery of an endpoint's canary, step by step, gated by live
per-version metrics and agent-test suites; promoted or rolled back by the orchestrator."""
