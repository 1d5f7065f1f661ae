"""Code sandbox adapters: containers through the Docker Engine API (Docker or podman)."""
