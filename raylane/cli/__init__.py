"""The ``raylane`` command line: API commands through :mod:`raylane.client`, plus local runtime."""
