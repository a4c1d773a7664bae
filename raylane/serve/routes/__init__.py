"""Routes: each parses input, calls one service method and returns a schema."""
