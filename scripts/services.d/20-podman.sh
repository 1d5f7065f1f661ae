#!/usr/bin/env bash
# Starts podman serving the Docker Engine API on unix:///run/rustyclaw-podman.sock (if nothing
# answers there yet), waits for /_ping, and imports the sandbox images when they are missing:
#   rustyclaw-busybox:latest   static busybox, for fast tests (under a second to build)
#   rustyclaw-sandbox:latest   Debian bookworm minbase + python3-minimal (mmdebstrap, ~25 s once;
#                              the tar is cached in /var/cache/rustyclaw-podman)
# Idempotent; run scripts/install.d/20-podman.sh first. Tests read DOCKER_HOST or default to the
# socket above; the socket's URL is also written to /run/rustyclaw-podman/docker_host.
# Set RC_SKIP_PYTHON_IMAGE=1 to import only the busybox image.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../podman/env.sh"

log() { echo "20-podman: $*"; }

command -v podman >/dev/null || { log "podman is not installed: run scripts/install.d/20-podman.sh" >&2; exit 1; }
mkdir -p "$RC_PODMAN_STATE" "$RC_IMAGE_CACHE"

if rc_podman_ping; then
  log "engine already answers on $RC_PODMAN_SOCKET"
else
  rm -f "$RC_PODMAN_SOCKET"
  log "starting podman system service on unix://$RC_PODMAN_SOCKET (log $RC_PODMAN_LOG)"
  # setsid + nohup: the service must outlive this script and the shell that ran it. It runs from
  # its own folder: conmon leaves files such as `oom` in the working directory it inherits.
  mkdir -p "$RC_PODMAN_STATE"
  cd "$RC_PODMAN_STATE"
  setsid nohup podman "${RC_PODMAN_FLAGS[@]}" system service --time=0 "unix://$RC_PODMAN_SOCKET" \
    >>"$RC_PODMAN_LOG" 2>&1 </dev/null &
  echo $! >"$RC_PODMAN_STATE/service.pid"
  for _ in $(seq 1 150); do
    rc_podman_ping && break
    sleep 0.2
  done
  if ! rc_podman_ping; then
    log "the engine did not answer on $RC_PODMAN_SOCKET within 30 s; last log lines:" >&2
    tail -n 20 "$RC_PODMAN_LOG" >&2 || true
    exit 1
  fi
  log "engine answers"
fi
echo "unix://$RC_PODMAN_SOCKET" >"$RC_PODMAN_STATE/docker_host"

have_image() { rc_podman image exists "$1"; }

# Keep both recipes in step with adapters/sandbox/image.py (the same images built through the API).

build_busybox() {
  local tmp
  tmp="$(mktemp -d)"
  mkdir -p "$tmp/root/bin" "$tmp/root/tmp" "$tmp/root/workspace" "$tmp/root/etc" \
    "$tmp/root/proc" "$tmp/root/sys" "$tmp/root/dev"
  chmod 1777 "$tmp/root/tmp"
  cp /bin/busybox "$tmp/root/bin/busybox"
  for applet in $("$tmp/root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$tmp/root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nsandbox:x:1000:1000:sandbox:/tmp:/bin/sh\n' >"$tmp/root/etc/passwd"
  printf 'root:x:0:\nsandbox:x:1000:\n' >"$tmp/root/etc/group"
  tar -C "$tmp/root" --numeric-owner -cf "$tmp/rootfs.tar" .
  rc_podman import --quiet --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin' \
    --change 'WORKDIR /workspace' "$tmp/rootfs.tar" "$RC_BUSYBOX_IMAGE" >/dev/null
  rm -rf "$tmp"
}

build_python() {
  local tar="$RC_IMAGE_CACHE/bookworm-minbase-python3.tar"
  if [ ! -s "$tar" ]; then
    command -v mmdebstrap >/dev/null || { log "mmdebstrap missing: run scripts/install.d/20-podman.sh" >&2; exit 1; }
    # Uses the machine's apt sources (no mirror given); the hooks add the unprivileged user and
    # the mount points the sandbox uses. Keep in step with adapters/sandbox/image.py.
    mmdebstrap --quiet --format=tar --variant=minbase --include=python3-minimal \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
      --customize-hook='chroot "$1" useradd -u 1000 -U -d /tmp -s /bin/sh sandbox' \
      --customize-hook='mkdir -p "$1/workspace"' \
      --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
      bookworm "$tar.part"
    mv "$tar.part" "$tar"
  fi
  rc_podman import --quiet --change 'CMD ["/bin/sh"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'WORKDIR /workspace' "$tar" "$RC_SANDBOX_IMAGE" >/dev/null
}

if have_image "$RC_BUSYBOX_IMAGE"; then
  log "$RC_BUSYBOX_IMAGE present"
else
  start=$(date +%s%N)
  build_busybox
  log "$RC_BUSYBOX_IMAGE imported in $(( ($(date +%s%N) - start) / 1000000 )) ms"
fi

if [ "${RC_SKIP_PYTHON_IMAGE:-0}" = 1 ]; then
  log "skipping $RC_SANDBOX_IMAGE (RC_SKIP_PYTHON_IMAGE=1)"
elif have_image "$RC_SANDBOX_IMAGE"; then
  log "$RC_SANDBOX_IMAGE present"
else
  start=$(date +%s)
  build_python
  log "$RC_SANDBOX_IMAGE imported in $(( $(date +%s) - start )) s"
fi
