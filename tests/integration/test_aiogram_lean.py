"""The lean aiogram import (adapters/channels/aiogram_lean.py) and its httpx session, against the emulator.

Each case runs in a fresh interpreter: the shim only acts on the first import of aiogram.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from rustyclaw.adapters.channels import aiogram_lean
from tests.fixtures.telegram_emulator import TelegramEmulator, telegram_emulator, telegram_token

__all__ = ["telegram_emulator", "telegram_token"]

REPO = Path(__file__).resolve().parents[2]


def probe(emulator: TelegramEmulator, token: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.integration.aiogram_lean_probe", emulator.base_url, token],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_the_lean_import_builds_nothing_and_real_calls_validate(
    telegram_emulator: TelegramEmulator, telegram_token: str
) -> None:
    out = probe(telegram_emulator, telegram_token)
    # Nothing built at import; aiohttp not imported at all.
    assert out["built_after_import"] == []
    assert out["types_built_after_import"] == 0
    assert out["aiohttp_after_import"] is False
    # Real Bot API answers parsed into aiogram's own types, nested ones included.
    assert out["me"]["is_bot"] is True and out["me"]["username"]
    assert out["updates"] == [{"type": "Update", "text": "hello lean", "from": "User", "date_type": "datetime"}]
    assert out["sent"] == {"type": "Message", "text": "reply from lean"}
    assert out["bad_method_refused"] == "ValidationError"
    assert out["bad_update_refused"] == "ValidationError"
    # Built on first use: what the calls needed (Message inside their schemas), nothing else.
    assert out["built_after_calls"] == ["GetUpdates", "SendMessage", "Update"]
    assert out["aiohttp_after_calls"] is False


def test_an_untested_aiogram_version_is_refused_loudly() -> None:
    aiogram_lean.check_version((3, 31, 0))
    for version in ((3, 30, 9), (3, 32, 0), (4, 0, 0)):
        with pytest.raises(aiogram_lean.AiogramLeanError, match="outside the range"):
            aiogram_lean.check_version(version)


def test_changed_internals_fail_the_import_instead_of_loading_half_patched() -> None:
    # aiogram.types without its rebuild loop (as if aiogram had changed): the import must fail.
    code = textwrap.dedent("""
        import importlib.abc, importlib.machinery, sys
        from rustyclaw.adapters.channels import aiogram_lean

        # The path finder hands out an aiogram.types whose source lost its rebuild loop.
        real_find = importlib.machinery.PathFinder.find_spec

        def find_spec(name, path=None, target=None):
            spec = real_find(name, path, target)
            if name != "aiogram.types" or spec is None:
                return spec
            real = spec.loader

            class Loader(importlib.abc.Loader):
                def create_module(self, spec):
                    return None

                def exec_module(self, module):
                    source = real.get_source(name).replace(".model_rebuild(", ".__class__.__name__.format(")
                    exec(compile(source, real.path, "exec"), module.__dict__)

            spec.loader = Loader()
            return spec

        importlib.machinery.PathFinder.find_spec = find_spec
        try:
            aiogram_lean.import_aiogram()
        except aiogram_lean.AiogramLeanError as exc:
            print("refused:", exc)
        print("left:", sorted(m for m in sys.modules if m.startswith("aiogram"))[:3])
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "refused: aiogram.types no longer ends with its model_rebuild loop" in done.stdout
    assert "left: []" in done.stdout  # no half-imported aiogram for a later import to find


def test_the_aiohttp_session_stays_available_on_demand() -> None:
    code = textwrap.dedent("""
        import sys
        from rustyclaw.adapters.channels import aiogram_lean
        aiogram_lean.import_aiogram()
        print("before:", "aiohttp" in sys.modules)
        from aiogram.client.session.aiohttp import AiohttpSession
        session = AiohttpSession()
        print("after:", "aiohttp" in sys.modules, type(session).__module__)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "before: False" in done.stdout
    assert "after: True aiogram.client.session.aiohttp" in done.stdout
