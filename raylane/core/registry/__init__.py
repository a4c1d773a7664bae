"""The model registry: registered models, versions with lineage, and aliases."""
