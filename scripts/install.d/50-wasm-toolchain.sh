#!/usr/bin/env bash
# Installs the toolchain that builds the C example plugins to wasm32: Debian's clang and lld
# (wasm-ld). Idempotent: apt-get runs only when a package is missing. Needs root when it installs.
set -euo pipefail

packages=(clang lld)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "50-wasm-toolchain: missing ${missing[*]} and not root: run as root or install them first" >&2
    exit 1
  fi
  echo "50-wasm-toolchain: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Other install scripts may hold the dpkg lock; wait for it instead of failing.
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "50-wasm-toolchain: packages present"
fi

# Debian installs wasm-ld as wasm-ld-<version>; clang finds it under the plain name only.
if ! command -v wasm-ld >/dev/null 2>&1; then
  versioned=$(ls /usr/bin/wasm-ld-* 2>/dev/null | sort -V | tail -n1 || true)
  if [ -n "$versioned" ] && [ "$(id -u)" -eq 0 ]; then
    ln -sf "$versioned" /usr/local/bin/wasm-ld
  fi
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bash "$root/scripts/build-wasm-examples.sh"
