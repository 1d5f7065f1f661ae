#!/usr/bin/env bash
# Installs the container engine for the code sandbox: Debian's podman (serving the Docker API),
# runc, and the tools that build the sandbox images without a registry (busybox-static, mmdebstrap).
# Idempotent: apt-get runs only when a package is missing. Needs root (CI and fresh machines).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../lib/apt.sh"
. "$here/../podman/env.sh"

# podman pulls conmon and its network stack in as dependencies; uidmap/slirp are not needed as root.
packages=(podman runc conmon busybox-static mmdebstrap curl ca-certificates)

apt_need 20-podman "${packages[@]}"

mkdir -p "$(dirname "$RC_PODMAN_ROOT")" "$RC_PODMAN_STATE" "$RC_IMAGE_CACHE"
for f in "$CONTAINERS_CONF" "$CONTAINERS_STORAGE_CONF"; do
  [ -r "$f" ] || { echo "20-podman: $f is missing" >&2; exit 1; }
done
echo "20-podman: CONTAINERS_CONF=$CONTAINERS_CONF CONTAINERS_STORAGE_CONF=$CONTAINERS_STORAGE_CONF"
rc_podman --version
