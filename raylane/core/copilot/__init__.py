"""The copilot: retrieval-augmented chat over a project's collections, with citations."""
