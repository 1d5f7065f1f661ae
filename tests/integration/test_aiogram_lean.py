"""The lean aiogram import (adapters/channels/aiogram_lean.py) and the channel's session, against the emulator.

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
    # Nor httpx (the session runs on the lean HTTP/1.1 client), unittest (aiogram's sentinels come
    # from the shim), the dispatcher stack (aiogram's package names load on first access) or the
    # standard library's html (imported by the first HTML quoting).
    assert out["loaded_after_import"] == []
    assert out["session"] == "LeanSession"
    # Real Bot API answers parsed into aiogram's own types, nested ones included.
    assert out["me"]["is_bot"] is True and out["me"]["username"]
    assert out["updates"] == [{"type": "Update", "text": "hello lean", "from": "User", "date_type": "datetime"}]
    assert out["sent"] == {"type": "Message", "text": "reply from lean"}
    assert out["bad_method_refused"] == "ValidationError"
    assert out["bad_update_refused"] == "ValidationError"
    # Built on first use: what the calls needed (Message inside their schemas), nothing else.
    assert out["built_after_calls"] == ["GetUpdates", "SendMessage", "Update"]
    assert out["aiohttp_after_calls"] is False
    assert out["loaded_after_calls"] == []
    assert out["lazy_names"] == ["MagicFilter", "Dispatcher", "FlagGenerator", True, "sentinel.UNSET",
                                 "rustyclaw.adapters.channels.aiogram_lean", "&lt;b&gt;&amp;&lt;/b&gt;", True]


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


def test_the_sentinel_shim_behaves_as_unittest_mock_s() -> None:
    import copy
    import pickle
    from unittest.mock import sentinel as mock_sentinel

    sentinel = aiogram_lean.sentinel
    assert sentinel.UNSET is sentinel.UNSET and sentinel.UNSET is not sentinel.OTHER
    assert repr(sentinel.UNSET) == repr(mock_sentinel.UNSET) == "sentinel.UNSET"
    # pydantic deep-copies field defaults: a sentinel must stay itself (as mock's does).
    assert copy.copy(sentinel.UNSET) is sentinel.UNSET
    assert copy.deepcopy({"a": sentinel.UNSET})["a"] is sentinel.UNSET
    assert pickle.loads(pickle.dumps(sentinel.UNSET)) is sentinel.UNSET
    assert not hasattr(sentinel, "__bases__")


def test_a_rewrite_whose_line_is_gone_loads_the_module_unchanged() -> None:
    import types

    class Loader:
        def get_source(self, name: str) -> str:
            return "from unittest.mock import sentinel as s\nVALUE = 1\n"  # not the exact line

    module = types.ModuleType("aiogram.types.base")
    assert aiogram_lean._exec_rewritten(Loader(), module, aiogram_lean._REWRITES["aiogram.types.base"]) is False  # type: ignore[arg-type]
    assert not hasattr(module, "VALUE")  # nothing ran: the caller runs the real loader instead

    class Rewritable:
        def get_source(self, name: str) -> str:
            return "from unittest.mock import sentinel\nVALUE = sentinel.UNSET\n"

    assert aiogram_lean._exec_rewritten(Rewritable(), module, aiogram_lean._REWRITES["aiogram.types.base"]) is True  # type: ignore[arg-type]
    assert module.VALUE is aiogram_lean.sentinel.UNSET


def test_unknown_aiogram_attributes_still_raise_attribute_error() -> None:
    code = textwrap.dedent("""
        import sys
        from rustyclaw.adapters.channels import aiogram_lean
        aiogram = aiogram_lean.import_aiogram()
        print("has:", hasattr(aiogram, "NoSuchName"), "dispatcher" in sys.modules.get("aiogram").__dict__)
        from aiogram import dispatcher, Router
        print("then:", dispatcher.__name__, Router.__module__)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "has: False False" in done.stdout
    assert "then: aiogram.dispatcher aiogram.dispatcher.router" in done.stdout
