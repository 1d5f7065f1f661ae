"""The idle gateway imports no heavy library: each loads where it is first used (40 MB idle budget)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


# Loaded where first used, not by the idle gateway (benchmarks/README.md, 2026-12-03: each was
# measured in idle RSS): the YAML parser (first SKILL.md or a YAML config), xml.sax.saxutils (it
# imports urllib.request, http.client), the browser tool (browser.enabled) and the voice adapters
# (stt or tts enabled), the HTML-to-text converter (the first HTML page web_fetch reads); 2026-12-04:
# hashlib's OpenSSL bindings (secrets, hmac: ~0.5 MB; the first bearer check or Idempotency-Key) and
# the plugin runtimes with the plugin SDK (0.3 MB; a plugin that names them).
LAZY = ["yaml", "xml.sax.saxutils", "html.parser", "rustyclaw.adapters.tools.html_text",
        "rustyclaw.adapters.tools.browser", "rustyclaw.adapters.tools.browser_pool",
        "rustyclaw.adapters.voice.piper_tts", "rustyclaw.adapters.voice.whisper_stt", "rustyclaw.adapters.voice.codec",
        "_hashlib", "hashlib", "hmac", "secrets", "rustyclaw.adapters.plugins.wasm_runtime",
        "rustyclaw.adapters.plugins.python_runtime", "rustyclaw.plugin_sdk"]


def test_the_default_core_defers_what_it_uses_later(tmp_path: Path) -> None:
    code = (
        "import os, sys, tempfile\n"
        "os.environ['RUSTYCLAW_HOME'] = tempfile.mkdtemp()\n"
        "from rustyclaw.settings import load_settings\n"
        "from rustyclaw.app import bootstrap\n"
        "bootstrap(load_settings(None), 'serve')\n"
        f"print(','.join(m for m in {LAZY!r} if m in sys.modules))\n"
    )
    # Run from an empty folder: ./config/default.yaml of the repository would be read (with yaml).
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=str(tmp_path))
    assert [m for m in out.stdout.strip().split(",") if m] == []
