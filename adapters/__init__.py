"""Driven and driving adapters: one subpackage per port, one module per backend."""
