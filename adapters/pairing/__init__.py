"""Pairing stores: JSON files in OpenClaw's layout, and an in-memory one for tests and demos."""
