#!/usr/bin/env bash
# The project's one test command (CI runs it through .ci/run):
#   1. scripts/install.sh      (skip with RUSTYCLAW_SKIP_INSTALL=1)
#   2. scripts/services.sh     (PostgreSQL + scripts/services.d hooks)
#   3. build the Cython extensions in place and check that each ext/_*.pyx imports as
#      rustyclaw.ext._*
#   4. ruff check .
#   5. mypy on the package (scripts/typecheck.sh)
#   6. pytest with the compiled twins, required (RUSTYCLAW_REQUIRE_EXTENSIONS=1): every test
#   7. pytest with the pure-Python twins (RUSTYCLAW_NO_EXTENSIONS=1): tests/unit and
#      tests/contract only. The twins are reached through rustyclaw.ext selectors from the
#      domain and the tokenizer adapters, which those suites cover; the integration suites
#      drive real servers (llama.cpp, podman, emulators) for minutes and do not depend on which
#      twin counts the tokens.
#   8. the benchmark suite (benchmarks/bench_*.py, results in benchmarks/results/latest.json),
#      then benchmarks/check_floors.py against the committed floors
# Arguments are passed to both test runs (e.g. ./scripts/test.sh -k tokens -x).
# Exits non-zero when any step fails; a main run that collects no test counts as a failure.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
PYTHON="${PYTHON:-python3}"
export PYTHON

names=()
results=()
times=()
failed=0

run_step() {  # run_step NAME COMMAND... ; records the outcome, never exits
  local name="$1" started status
  shift
  echo
  echo "===== $name ====="
  started=$(date +%s)
  "$@"
  status=$?
  names+=("$name")
  times+=("$(($(date +%s) - started))s")
  if [ "$status" -eq 0 ]; then
    results+=("ok")
  else
    results+=("FAILED (exit $status)")
    failed=1
  fi
  return "$status"
}

summary() {
  echo
  echo "===== summary ====="
  local i
  for i in "${!names[@]}"; do
    printf '  %-38s %-18s %s\n' "${names[$i]}" "${results[$i]}" "${times[$i]}"
  done
  if [ "$failed" -eq 0 ]; then echo "ALL PASSED"; else echo "FAILED"; fi
}

build_extensions() {
  "$PYTHON" setup.py -q build_ext --inplace || return 1
  local pyx mod missing=0
  for pyx in ext/_*.pyx; do
    [ -e "$pyx" ] || continue
    mod="rustyclaw.ext.$(basename "$pyx" .pyx)"
    if "$PYTHON" -c "import importlib, sys; m = importlib.import_module(sys.argv[1]); print(sys.argv[1], '->', m.__file__)" "$mod"; then
      :
    else
      echo "build: $mod does not import after build_ext --inplace" >&2
      missing=1
    fi
  done
  return "$missing"
}

typecheck() {
  if [ -x scripts/typecheck.sh ]; then
    scripts/typecheck.sh
  else
    mypy domain ports adapters ext config rustyclaw
  fi
}

pytest_main() {
  RUSTYCLAW_REQUIRE_EXTENSIONS=1 "$PYTHON" -m pytest "$@"
  # exit code 5 (no tests collected) is a failure here: the suite must not be empty
}

pytest_pure_python() {
  local status arg paths=(tests/unit tests/contract)
  for arg in "$@"; do  # explicit test paths replace the default unit+contract selection
    if [ -e "${arg%%::*}" ]; then paths=(); break; fi
  done
  RUSTYCLAW_NO_EXTENSIONS=1 "$PYTHON" -m pytest "${paths[@]}" "$@"
  status=$?
  [ "$status" -eq 5 ] && { echo "(no tests selected in this run)"; return 0; }
  return "$status"
}

benchmarks() {
  local status
  mkdir -p benchmarks/results
  "$PYTHON" -m pytest benchmarks -p no:cacheprovider --benchmark-json=benchmarks/results/latest.json || return $?
  # Ratios and figures against the floors committed in benchmarks/floors.json.
  "$PYTHON" benchmarks/check_floors.py benchmarks/results/latest.json
}

if [ "${RUSTYCLAW_SKIP_INSTALL:-0}" = "1" ]; then
  echo "install: skipped (RUSTYCLAW_SKIP_INSTALL=1)"
else
  run_step "install" ./scripts/install.sh || { summary; exit 1; }
fi
run_step "services" ./scripts/services.sh || { summary; exit 1; }
run_step "build extensions" build_extensions || { summary; exit 1; }
run_step "ruff" ruff check .
run_step "mypy" typecheck
run_step "pytest (compiled twins required)" pytest_main "$@"
run_step "pytest (pure Python, unit+contract)" pytest_pure_python "$@"
run_step "benchmarks" benchmarks
summary
exit "$failed"
