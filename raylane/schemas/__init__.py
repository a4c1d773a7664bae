"""Pydantic wire models shared by the server (serve/) and the SDK (client/). No server imports."""
