"""Ray actors: long-lived orchestrators (detached) and worker pools."""
