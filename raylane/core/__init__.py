"""Domain and infrastructure. Imports nothing from serve/, jobs/, actors/, client/ or cli/."""
