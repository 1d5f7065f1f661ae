"""channels adapters."""
