"""RustyClaw: a light, local-first AI assistant gateway."""

__version__ = "0.1.0"
