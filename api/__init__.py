"""The HTTP layer: one FastAPI app speaking three wire dialects."""
