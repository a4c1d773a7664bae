"""The HTTP edge: FastAPI app (create_app), its dependencies, routes and Serve deployments."""

APP_NAME = "raylane"  # the Serve application (here: no imports, so a worker can name it cheaply)
