"""The domain: names, store, pull, options, templates, the manager. No web or notebook imports."""
