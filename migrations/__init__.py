"""SQL migrations per backend, applied in order at start."""
