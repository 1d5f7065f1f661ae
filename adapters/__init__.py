"""Driven and driving adapters: one subpackage per port, one module per backend."""

# The folder installs (and, through the rustyclaw/adapters link, runs from a checkout) as rustyclaw.adapters.
# Imported under its folder's own name it would be a second copy of every module, with its own error
# classes that an `except` written against the first would silently miss.
if __name__ != "rustyclaw.adapters":
    raise ImportError(f"import rustyclaw.adapters, not {__name__}: adapters/ is the package rustyclaw.adapters")
