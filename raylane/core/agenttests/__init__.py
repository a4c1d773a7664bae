"""Agent tests: suites of cases run against a target, scored, compared between runs."""
