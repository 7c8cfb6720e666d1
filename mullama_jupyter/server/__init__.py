"""Adapters that serve the routes over HTTP: the Jupyter extension and the standalone app."""
