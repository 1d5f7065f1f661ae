"""Rate-limit counters: in-process (one gateway) and PostgreSQL (replicas share the windows)."""
