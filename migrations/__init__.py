"""SQL migrations per backend, applied in order at start."""

# The folder installs (and, through the rustyclaw/migrations link, runs from a checkout) as rustyclaw.migrations.
# Imported under its folder's own name it would be a second copy of every module, with its own error
# classes that an `except` written against the first would silently miss.
if __name__ != "rustyclaw.migrations":
    raise ImportError(f"import rustyclaw.migrations, not {__name__}: migrations/ is the package rustyclaw.migrations")
