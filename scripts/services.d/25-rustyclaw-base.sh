#!/usr/bin/env bash
# Imports localhost/rustyclaw-base:bookworm, the base the gateway's Dockerfile is built FROM in CI
# (no registry): Debian bookworm minbase + python3 + python3-venv + ca-certificates, made with
# mmdebstrap. The rootfs tar is cached in $RC_IMAGE_CACHE, so only the first run pays for
# mmdebstrap (~30-60 s); a re-import takes a few seconds. Run after 20-podman.sh (the engine).
# Users outside CI pass `--build-arg BASE=python:3.11-slim` instead.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../podman/env.sh"
RC_BASE_IMAGE="${RC_BASE_IMAGE:-localhost/rustyclaw-base:bookworm}"

log() { echo "25-rustyclaw-base: $*"; }

if [ "${RC_SKIP_PYTHON_IMAGE:-0}" = 1 ]; then
  log "skipping $RC_BASE_IMAGE (RC_SKIP_PYTHON_IMAGE=1)"; exit 0
fi
if rc_podman image exists "$RC_BASE_IMAGE"; then
  log "$RC_BASE_IMAGE present"; exit 0
fi
mkdir -p "$RC_IMAGE_CACHE"
tar="$RC_IMAGE_CACHE/bookworm-minbase-python3-venv.tar"
start=$(date +%s)
if [ ! -s "$tar" ]; then
  command -v mmdebstrap >/dev/null || { log "mmdebstrap missing: run scripts/install.d/20-podman.sh" >&2; exit 1; }
  # ca-certificates: pip fetches the wheel's dependencies over HTTPS at build time.
  mmdebstrap --quiet --format=tar --variant=minbase --include=python3,python3-venv,ca-certificates \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
    bookworm "$tar.part"
  mv "$tar.part" "$tar"
fi
rc_podman import --quiet --change 'CMD ["/bin/sh"]' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  "$tar" "$RC_BASE_IMAGE" >/dev/null
log "$RC_BASE_IMAGE imported in $(( $(date +%s) - start )) s"
