"""Prints pyproject.toml's dependencies plus those of the extras given (comma-separated), one a line.

Used by the Dockerfile to install dependencies in a layer of their own, before the source is copied.
"""

import sys
import tomllib

with open("pyproject.toml", "rb") as fh:
    project = tomllib.load(fh)["project"]
requirements = list(project["dependencies"])
for extra in filter(None, (e.strip() for e in (sys.argv[1] if len(sys.argv) > 1 else "").split(","))):
    requirements += project["optional-dependencies"][extra]
print("\n".join(requirements))
