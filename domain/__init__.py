"""The pure core: value types and rules. Imports no I/O library; reaches the world through ports."""
