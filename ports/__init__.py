"""Protocols the domain reaches the world through; one concern per module."""

# The folder installs (and, through the rustyclaw/ports link, runs from a checkout) as rustyclaw.ports.
# Imported under its folder's own name it would be a second copy of every module, with its own error
# classes that an `except` written against the first would silently miss.
if __name__ != "rustyclaw.ports":
    raise ImportError(f"import rustyclaw.ports, not {__name__}: ports/ is the package rustyclaw.ports")
