#!/usr/bin/env bash
# Builds the C example plugins (examples/plugins/*/plugin.c) to wasm32 with clang and wasm-ld:
# freestanding (no libc, no WASI), exports alloc/dealloc/handle/memory as docs/plugin-abi.md says.
# The .wat examples need no build (wasmtime compiles WebAssembly text directly).
# Needs Debian's clang and lld (scripts/install.d/50-wasm-toolchain.sh installs them).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CC="${CC_WASM:-clang}"
if ! command -v "$CC" >/dev/null 2>&1; then
  echo "build-wasm-examples: $CC not found (install clang and lld: scripts/install.d/50-wasm-toolchain.sh)" >&2
  exit 1
fi
shopt -s nullglob
for src in "$root"/examples/plugins/*/plugin.c; do
  out="${src%.c}.wasm"
  if [ -f "$out" ] && [ "$out" -nt "$src" ] && [ "$out" -nt "$0" ]; then
    echo "build-wasm-examples: ${out#"$root"/} is up to date"
    continue
  fi
  "$CC" --target=wasm32 -nostdlib -O2 -Wall -Wextra -Werror \
    -Wl,--no-entry -Wl,--strip-all -Wl,-z,stack-size=65536 -Wl,--initial-memory=131072 \
    -o "$out.tmp" "$src"
  mv "$out.tmp" "$out"
  echo "build-wasm-examples: built ${out#"$root"/} ($(stat -c %s "$out") bytes)"
done
