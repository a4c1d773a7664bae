"""Documents: parsing uploaded files into text, chunking it for embedding, and storing both."""
