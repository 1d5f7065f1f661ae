"""Configuration: schema, loader and the commented default file."""

# The folder installs (and, through the rustyclaw/config link, runs from a checkout) as rustyclaw.config.
# Imported under its folder's own name it would be a second copy of every module, with its own error
# classes that an `except` written against the first would silently miss.
if __name__ != "rustyclaw.config":
    raise ImportError(f"import rustyclaw.config, not {__name__}: config/ is the package rustyclaw.config")
