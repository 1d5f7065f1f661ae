"""LLM adapters: the OpenAI-compatible streaming provider, routing with retries, embedded llama.cpp."""
