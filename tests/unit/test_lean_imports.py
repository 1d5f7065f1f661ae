"""The idle gateway imports no heavy library: each loads where it is first used (40 MB idle budget)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ["httpx", "aiogram", "hikari", "aiohttp", "docker", "wasmtime", "faster_whisper", "piper",
         "tiktoken", "numpy", "av", "psycopg", "llama_cpp", "rich", "starlette"]


def loaded_after(code: str) -> list[str]:
    probe = code + f"\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


def test_the_composition_root_and_cli_load_no_heavy_library() -> None:
    assert loaded_after("import rustyclaw.app, rustyclaw.cli; rustyclaw.cli._parser()") == []


def test_building_the_core_from_default_config_loads_no_heavy_library() -> None:
    code = (
        "import os, tempfile\n"
        "os.environ['RUSTYCLAW_HOME'] = tempfile.mkdtemp()\n"
        "from rustyclaw.settings import load_settings\n"
        "from rustyclaw.app import bootstrap\n"
        "bootstrap(load_settings(None), 'serve')\n"
    )
    assert loaded_after(code) == []
