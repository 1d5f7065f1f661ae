"""workspace adapters."""
