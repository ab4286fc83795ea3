"""The Shelfrank ranking service: FastAPI over the pipelines in :mod:`ranking`."""
