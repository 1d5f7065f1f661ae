#!/usr/bin/env bash
# Strict mypy over the whole package. rustyclaw/domain, rustyclaw/ports, ... are links to the top-level
# folders, so plain `mypy` (files = ["rustyclaw"] in pyproject.toml) sees every module as installed.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m mypy "$@"
