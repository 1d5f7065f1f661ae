#!/usr/bin/env bash
# Builds the documentation site (MkDocs Material) into build/site: first regenerates the
# configuration reference from the schema (scripts/gen-config-reference.py), then `mkdocs build
# --strict`, so a broken link or a page missing from the nav fails the build. Needs the `test`
# (or `docs`) extra: pip install ".[docs]".
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
PYTHON="${PYTHON:-python3}"
export NO_MKDOCS_2_WARNING=1
"$PYTHON" scripts/gen-config-reference.py
"$PYTHON" -m mkdocs build --strict --clean --config-file mkdocs.yml "$@"
test -s build/site/index.html && test -s build/site/reference/config/index.html
echo "build-docs: site in build/site ($(find build/site -name '*.html' | wc -l) pages)"
