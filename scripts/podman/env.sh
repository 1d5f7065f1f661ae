# shellcheck shell=bash
# Sourced by scripts/install.d/20-podman.sh, scripts/services.d/20-podman.sh and anyone who wants
# to run podman against the RustyClaw sandbox engine by hand:  . scripts/podman/env.sh; rc_podman ps
# Values may be overridden from the environment before sourcing.

RC_PODMAN_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$RC_PODMAN_DIR/containers.conf}"
export CONTAINERS_STORAGE_CONF="${CONTAINERS_STORAGE_CONF:-$RC_PODMAN_DIR/storage.conf}"
# RC_PODMAN_STATE: the service's run folder (pid, log, docker_host); a second engine with its own
# state (scripts/ci_fresh.sh) sets it together with RC_PODMAN_ROOT and RC_PODMAN_SOCKET.
RC_PODMAN_STATE="${RC_PODMAN_STATE:-/run/rustyclaw-podman}"
RC_PODMAN_ROOT="${RC_PODMAN_ROOT:-/var/lib/rustyclaw-podman/storage}"
RC_PODMAN_RUNROOT="${RC_PODMAN_RUNROOT:-$RC_PODMAN_STATE/runroot}"
RC_PODMAN_SOCKET="${RC_PODMAN_SOCKET:-/run/rustyclaw-podman.sock}"
RC_PODMAN_LOG="${RC_PODMAN_LOG:-$RC_PODMAN_STATE/service.log}"
RC_SANDBOX_IMAGE="${RC_SANDBOX_IMAGE:-rustyclaw-sandbox:latest}"
RC_BUSYBOX_IMAGE="${RC_BUSYBOX_IMAGE:-rustyclaw-busybox:latest}"
RC_IMAGE_CACHE="${RC_IMAGE_CACHE:-/var/cache/rustyclaw-podman}"

# The same storage flags on EVERY call, from the very first one: a podman started once with another
# driver leaves the graph root in a state where `wait` through the API never returns.
RC_PODMAN_FLAGS=(--storage-driver overlay --root "$RC_PODMAN_ROOT" --runroot "$RC_PODMAN_RUNROOT"
  --cgroup-manager cgroupfs --runtime runc --events-backend file)
rc_podman() {
  mkdir -p "$RC_PODMAN_STATE"
  podman "${RC_PODMAN_FLAGS[@]}" "$@"
}

# True when the Docker API answers on the socket.
rc_podman_ping() {
  [ -S "$RC_PODMAN_SOCKET" ] &&
    curl -fsS --max-time 2 --unix-socket "$RC_PODMAN_SOCKET" http://d/_ping >/dev/null 2>&1
}
