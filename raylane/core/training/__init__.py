"""Training: text classifiers trained as Ray Train jobs, served from the registry."""
