"""An example channel adapter: a plain signed HTTP webhook in, JSON POSTs out."""
