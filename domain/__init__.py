"""The pure core: value types and rules. Imports no I/O library; reaches the world through ports."""

# The folder installs (and, through the rustyclaw/domain link, runs from a checkout) as rustyclaw.domain.
# Imported under its folder's own name it would be a second copy of every module, with its own error
# classes that an `except` written against the first would silently miss.
if __name__ != "rustyclaw.domain":
    raise ImportError(f"import rustyclaw.domain, not {__name__}: domain/ is the package rustyclaw.domain")
