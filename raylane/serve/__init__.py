"""The HTTP edge: FastAPI app (create_app), its dependencies, routes and Serve deployments."""
