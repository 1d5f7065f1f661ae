"""Without `mcp.servers` the core never imports the MCP adapter or the SDK; skills add no archive code."""

from __future__ import annotations

import subprocess
import sys


def loaded_after(code: str, modules: list[str]) -> list[str]:
    probe = code + f"\nimport sys\nprint(','.join(m for m in {modules!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


BUILD = (
    "import os, tempfile\n"
    "os.environ['RUSTYCLAW_HOME'] = tempfile.mkdtemp()\n"
    "from rustyclaw.settings import load_settings\n"
    "from rustyclaw.app import bootstrap\n"
    "root = bootstrap(load_settings(None), 'serve')\n"
    "assert root.mcp.manager is None and root.skills.catalog is not None\n"
)


def test_the_core_without_mcp_servers_loads_no_mcp_code() -> None:
    heavy = ["mcp", "mcp_types", "httpx2", "rustyclaw.adapters.mcp", "rustyclaw.adapters.mcp.manager",
             "rustyclaw.adapters.skills.install", "skills_ref"]
    assert loaded_after(BUILD, heavy) == []
