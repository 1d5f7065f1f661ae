"""The domain reaches the world only through ports: it imports no I/O library and no adapter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[2] / "domain"

ALLOWED_THIRD_PARTY = {"anyio", "msgspec"}
ALLOWED_PROJECT = ("rustyclaw.domain", "rustyclaw.ports", "rustyclaw.ext")
FORBIDDEN_STDLIB = {
    "socket", "ssl", "subprocess", "sqlite3", "http", "urllib", "ftplib", "smtplib", "asyncio",
    "shutil", "tempfile", "multiprocessing", "select", "selectors", "fcntl",
}
IO_LIBRARIES = [
    "httpx", "aiogram", "hikari", "aiosqlite", "sqlite3", "psycopg", "docker", "wasmtime", "granian",
    "faster_whisper", "piper", "tiktoken", "pydantic", "yaml", "rustyclaw.adapters", "rustyclaw.config",
]


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def test_domain_imports_only_stdlib_anyio_msgspec_ports_and_ext() -> None:
    problems = []
    for path in sorted(DOMAIN.rglob("*.py")):
        for line, module in imported_modules(path):
            top = module.split(".")[0]
            if module.startswith("rustyclaw."):
                if not module.startswith(ALLOWED_PROJECT):
                    problems.append(f"{path.name}:{line} imports {module}")
            elif top in FORBIDDEN_STDLIB:
                problems.append(f"{path.name}:{line} imports I/O module {module}")
            elif top not in sys.stdlib_module_names and top not in ALLOWED_THIRD_PARTY and top != "__future__":
                problems.append(f"{path.name}:{line} imports third-party {module}")
    assert problems == []


def test_importing_the_domain_loads_no_io_library() -> None:
    modules = [f"rustyclaw.domain.{p.stem}" for p in DOMAIN.glob("*.py") if p.stem != "__init__"]
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + f"bad = [m for m in {IO_LIBRARIES!r} if m in sys.modules]\n"
        + "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_purity_check_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import httpx\nfrom rustyclaw.adapters.storage import sqlite\n")
    modules = [m for _, m in imported_modules(bad)]
    assert modules == ["httpx", "rustyclaw.adapters.storage"]
