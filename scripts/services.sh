#!/usr/bin/env bash
# Makes sure the services the tests use are up: PostgreSQL on 127.0.0.1:5432 with a database
# `test` (trust auth for local connections: this is a test machine), then every
# scripts/services.d/*.sh hook in name order (podman, ...). Idempotent; run scripts/install.sh first.
#
# Extending: add `scripts/services.d/NN-name.sh` (bash, idempotent, returns once the service
# answers; start long-lived processes with setsid nohup so they outlive this script).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { echo "services: $*"; }

pg_host=127.0.0.1
pg_port=5432

pg_up() { pg_isready -q -h "$pg_host" -p "$pg_port"; }

ensure_trust() {
  # Debian's default pg_hba asks for passwords over TCP; the test suite connects without one.
  local hba changed=0
  for hba in /etc/postgresql/*/main/pg_hba.conf; do
    [ -f "$hba" ] || continue
    if ! grep -Eq '^host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
      log "allowing trust auth from 127.0.0.1 in $hba"
      sed -i '1i host all all 127.0.0.1/32 trust\nlocal all all trust' "$hba"
      changed=1
    fi
  done
  return $((1 - changed))  # 0 when something changed
}

if ! command -v pg_ctlcluster >/dev/null; then
  log "PostgreSQL is not installed: run scripts/install.sh" >&2
  exit 1
fi
version="$(ls /etc/postgresql | sort -V | tail -n 1)"
trust_changed=0
ensure_trust && trust_changed=1
if pg_up; then
  log "PostgreSQL answers on $pg_host:$pg_port"
  if [ "$trust_changed" = 1 ]; then
    pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  fi
else
  log "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 60); do
    pg_up && break
    sleep 0.5
  done
  pg_up || { log "PostgreSQL did not come up on $pg_host:$pg_port" >&2; exit 1; }
fi
psql_() { psql -X -q -h "$pg_host" -p "$pg_port" -U postgres "$@"; }
if [ "$(psql_ -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'")" != "1" ]; then
  log "creating database test"
  psql_ -c "CREATE DATABASE test"
fi
log "PostgreSQL ready (database test)"

shopt -s nullglob
for hook in "$root"/scripts/services.d/*.sh; do
  log "running ${hook#"$root"/}"
  bash "$hook"
done
log "done"
