"""Collections of documents, their chunks and vectors."""
