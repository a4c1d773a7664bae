"""Projects: the unit that collections, runs and copilots belong to."""
