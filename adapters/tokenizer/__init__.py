"""tokenizer adapters."""
