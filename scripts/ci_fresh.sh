#!/usr/bin/env bash
# CI as a fresh machine sees it, on this one: `CI_FRESH=1 .ci/run [pytest args]` runs this.
#
# Each run (CI_FRESH_RUNS, default 2, one after the other) starts from nothing the earlier work
# left behind:
#   - a clean clone of the committed HEAD (uncommitted changes are not part of CI);
#   - a new virtualenv without the machine's site-packages, pip with an empty cache
#     (PIP_CACHE_DIR in the run's folder: llama.cpp compiles from source again) and an empty npm cache;
#   - a podman engine of its own with no state: its own storage, run folder, socket and image cache
#     (DOCKER_HOST points the tests and the gateway at it), stopped and wiped at the end;
# then the clone's own `.ci/run` (scripts/test.sh: install, services, build, ruff, mypy, both pytest
# runs, benchmarks and their floors). What stays shared with the machine: its Debian packages (the
# install step checks them and installs what is missing), PostgreSQL on 127.0.0.1:5432 (the tests
# create their own databases) and pip's index configuration.
#
# Environment: CI_FRESH_RUNS (2), CI_FRESH_DIR (parent of the runs' folders, default /var/tmp),
# CI_FRESH_KEEP=1 keeps each run's folder (clone, venv, logs) for a look afterwards.
# Output: each run's log in <folder>/ci.log, and a summary with every run's result and duration.
# Exits non-zero when any run fails.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${CI_FRESH_RUNS:-2}"
parent="${CI_FRESH_DIR:-/var/tmp}"
base_python="${PYTHON:-python3}"
log() { echo "ci-fresh: $*"; }

results=()
failed=0

stop_engine() {  # stop_engine DIR...: the podman service this run started, its containers, mounts under DIRs
  local dir pid mount
  # With this run's RC_PODMAN_*. Not `podman system reset`: it also drops the machine's networks.
  . "$root/scripts/podman/env.sh"
  rc_podman rm --all --force >/dev/null 2>&1 || true
  if [ -f "$RC_PODMAN_STATE/service.pid" ]; then
    pid="$(cat "$RC_PODMAN_STATE/service.pid")"
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    fi
  fi
  # Overlay and shm mounts left under the run's storage, deepest first, so that rm -rf can work.
  for dir in "$@"; do
    findmnt -rn -o TARGET | grep -F "$dir/" | sort -r | while read -r mount; do
      umount -l "$mount" 2>/dev/null || true
    done
  done
}

one_run() {  # one_run N [ARGS]: a fresh folder, clone, venv, caches and engine; the clone's .ci/run ARGS
  local n="$1" work state started status
  shift
  work="$(mktemp -d "$parent/rustyclaw-fresh-$n.XXXXXX")"
  # podman refuses a runroot longer than 50 characters: the engine's run folder lives in /run.
  state="$(mktemp -d "/run/rustyclaw-fresh-$n.XXXXXX")"
  log "run $n of $runs in $work"
  git clone --quiet --no-local "$root" "$work/repo" || return 1
  log "run $n: clean clone of $(git -C "$work/repo" log -1 --format='%h %s')"
  "$base_python" -m venv "$work/venv" || return 1
  (
    export PATH="$work/venv/bin:$PATH" PYTHON="$work/venv/bin/python" VIRTUAL_ENV="$work/venv"
    export PIP_CACHE_DIR="$work/cache/pip" npm_config_cache="$work/cache/npm"
    export RC_PODMAN_STATE="$state" RC_PODMAN_ROOT="$work/podman/storage"
    export RC_PODMAN_RUNROOT="$state/runroot" RC_PODMAN_SOCKET="$state/podman.sock"
    export RC_PODMAN_LOG="$state/service.log" RC_IMAGE_CACHE="$work/podman/cache"
    export DOCKER_HOST="unix://$state/podman.sock"
    unset CI_FRESH RUSTYCLAW_SKIP_INSTALL
    mkdir -p "$PIP_CACHE_DIR" "$npm_config_cache" "$RC_PODMAN_STATE" "$RC_IMAGE_CACHE"
    cd "$work/repo" || exit 1
    started=$(date +%s)
    ./.ci/run "$@" >"$work/ci.log" 2>&1
    status=$?
    echo "$status $(($(date +%s) - started))" >"$work/result"
    cp "$RC_PODMAN_LOG" "$work/podman-service.log" 2>/dev/null
    stop_engine "$work" "$state"
  )
  rm -rf "$state"
  read -r status seconds <"$work/result" || { status=1; seconds=0; }
  results+=("run $n: $([ "$status" = 0 ] && echo passed || echo "FAILED (exit $status)") in $((seconds / 60))m$((seconds % 60))s ($work/ci.log)")
  log "${results[-1]}"
  tail -n 14 "$work/ci.log" | sed 's/^/  | /'
  [ "$status" = 0 ] || failed=1
  if [ "${CI_FRESH_KEEP:-0}" != "1" ] && [ "$status" = 0 ]; then
    rm -rf "$work"
  fi
}

for n in $(seq 1 "$runs"); do
  one_run "$n" "$@"
done
echo
echo "===== ci-fresh summary ====="
printf '  %s\n' "${results[@]}"
if [ "$failed" = 0 ]; then echo "ALL RUNS PASSED"; else echo "FAILED (failed runs' folders are kept)"; fi
exit "$failed"
