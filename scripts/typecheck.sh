#!/usr/bin/env bash
# mypy cannot follow setuptools' package-dir mapping (domain/ -> rustyclaw.domain, ...), so it checks
# a tree of symlinks shaped like the installed package instead.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
tree=build/typecheck
rm -rf "$tree" && mkdir -p "$tree/rustyclaw"
for f in rustyclaw/*.py; do ln -s "$root/$f" "$tree/rustyclaw/$(basename "$f")"; done
for pkg in domain ports adapters ext config migrations; do ln -s "$root/$pkg" "$tree/rustyclaw/$pkg"; done
cd "$tree"
exec mypy --config-file "$root/pyproject.toml" -p rustyclaw "$@"
