#!/usr/bin/env bash
# Installs the toolchain that builds the C example plugins to wasm32: Debian's clang and lld
# (wasm-ld). Idempotent: apt-get runs only when a package is missing. Needs root when it installs.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib/apt.sh"

packages=(clang lld)

apt_need 50-wasm-toolchain "${packages[@]}"

# Debian installs wasm-ld as wasm-ld-<version>; clang finds it under the plain name only.
if ! command -v wasm-ld >/dev/null 2>&1; then
  versioned=$(ls /usr/bin/wasm-ld-* 2>/dev/null | sort -V | tail -n1 || true)
  if [ -n "$versioned" ] && [ "$(id -u)" -eq 0 ]; then
    ln -sf "$versioned" /usr/local/bin/wasm-ld
  fi
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bash "$root/scripts/build-wasm-examples.sh"
