#!/usr/bin/env bash
# Regenerate tests/fixtures/openclaw/*.tar.xz by running the REAL OpenClaw against a mock model.
#
# Installs Node 24 (npm package node@24) and OpenClaw 2026.7.1 (last classic JSON layout) and
# 2026.9.6 (SQLite state) under build/openclaw-fixtures/ (gitignored), then drives turns with
# drive.py. Slow (several minutes per version: each `agent --local` turn boots OpenClaw); CI does
# not run it, it uses the committed fixtures.
#
# Usage: scripts/openclaw-fixtures/make.sh [VERSION...]   (default: 2026.7.1 2026.9.6)
#        OPENCLAW_FIXTURES_OUT=DIR writes the tarballs elsewhere.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$root/build/openclaw-fixtures"
out="${OPENCLAW_FIXTURES_OUT:-$root/tests/fixtures/openclaw}"   # override to try the script without touching the committed fixtures
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(2026.7.1 2026.9.6)
mkdir -p "$build/node" "$out"

if [ ! -x "$build/node/node_modules/.bin/node" ]; then
  (cd "$build/node" && { [ -f package.json ] || npm init -y >/dev/null; } && npm install --no-audit --no-fund node@24)
fi
node="$build/node/node_modules/.bin/node"
"$node" --version

for v in "${versions[@]}"; do
  dir="$build/oc-$v"
  mkdir -p "$dir"
  if [ ! -f "$dir/node_modules/openclaw/openclaw.mjs" ]; then
    (cd "$dir" && { [ -f package.json ] || npm init -y >/dev/null; } \
      && PATH="$(dirname "$node"):$PATH" npm install --no-audit --no-fund "openclaw@$v")
  fi
  python3 "$here/drive.py" --node "$node" --openclaw "$dir/node_modules/openclaw/openclaw.mjs" \
    --version "$v" --work "$build/run-$v" --out "$out/state-$v.tar.xz"
done
