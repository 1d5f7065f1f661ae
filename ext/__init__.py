"""Compiled hot paths (Cython) with pure-Python twins; selectors pick the compiled one."""

# The folder installs (and, through the rustyclaw/ext link, runs from a checkout) as rustyclaw.ext.
# Imported under its folder's own name it would be a second copy of every module, with its own error
# classes that an `except` written against the first would silently miss.
if __name__ != "rustyclaw.ext":
    raise ImportError(f"import rustyclaw.ext, not {__name__}: ext/ is the package rustyclaw.ext")
