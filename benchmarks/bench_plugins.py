"""Plugins: the on_message hook's cost per message (WASM vs Python vs none) and WASM instantiation.

Groups:
- ``plugin-on-message``: ``PluginManager.before_turn`` for one message, with no plugin, with the
  shout example on wasmtime (a rewrite: JSON out, a worker-thread hop, JSON back), with the
  same rewrite as a Python SDK plugin. Each round handles ``BATCH`` messages on one event loop;
  the figures divide by it.
- ``wasm-instantiate``: a plugin instance from a cold start (compile the module, new Store,
  instantiate) against one from the cached Module (new Store, instantiate).

Figures: ``plugins.on_message_us.{none,wasm,python}`` and ``plugins.wasm_instantiate_us.{cold,cached}``.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.figures import Figures
from rustyclaw.adapters.plugins.host_api import PluginHost, PluginStorage
from rustyclaw.adapters.plugins.loader import PluginCaps, discover, sources
from rustyclaw.adapters.plugins.manager import PluginManager
from rustyclaw.adapters.plugins.python_runtime import PythonRuntime
from rustyclaw.adapters.plugins.wasm_runtime import WasmEngine, WasmPlugin, WasmRuntime
from rustyclaw.domain.messages import InboundMessage

REPO = Path(__file__).resolve().parents[1]
SHOUT = REPO / "examples" / "plugins" / "shout-wat"
BATCH = 100

PY_SHOUT = '''
from rustyclaw.plugin_sdk import on_message, rewrite

@on_message
def shout(message, host):
    return rewrite(message.text.upper())
'''

PY_MANIFEST = ('{"name": "pyshout", "version": "1", "runtime": "python", "entry": "plugin.py", '
               '"hooks": {"onMessage": true}}')

MESSAGE = InboundMessage(channel="web", peer_id="u1", sender_id="u1", text="hello there, how are you today?")


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    event_loop = asyncio.new_event_loop()
    yield event_loop
    event_loop.close()


def _plugins_dir(root: Path, kind: str) -> Path:
    folder = root / kind
    folder.mkdir()
    if kind == "wasm":
        shutil.copytree(SHOUT, folder / "shout")
    elif kind == "python":
        (folder / "pyshout").mkdir()
        (folder / "pyshout" / "plugin.py").write_text(PY_SHOUT)
        (folder / "pyshout" / "manifest.json").write_text(PY_MANIFEST)
    return folder


@pytest.mark.parametrize("kind", ["none", "wasm", "python"])
def test_on_message_hook(benchmark: Any, figures: Figures, loop: asyncio.AbstractEventLoop,
                         tmp_path: Path, kind: str) -> None:
    ready, problems = sources(discover([_plugins_dir(tmp_path, kind)]), {}, PluginCaps())
    assert not problems
    manager = PluginManager(ready, {"wasm": WasmRuntime(), "python": PythonRuntime()},
                            PluginHost(storage=PluginStorage(tmp_path / "state")))
    loop.run_until_complete(manager.start())

    async def batch() -> Any:
        out = None
        for _ in range(BATCH):
            out = await manager.before_turn(MESSAGE, "agent:main:main")
        return out

    benchmark.group = "plugin-on-message"
    result = benchmark(lambda: loop.run_until_complete(batch()))
    if kind == "none":
        assert result is None
    else:
        assert isinstance(result, InboundMessage) and result.text == MESSAGE.text.upper()
    figures.record(f"plugins.on_message_us.{kind}", benchmark.stats.stats.median / BATCH * 1e6, "us",
                   note="PluginManager.before_turn per message (median of rounds of 100)")
    loop.run_until_complete(manager.aclose())


@pytest.mark.parametrize("mode", ["cold", "cached"])
def test_wasm_instantiate(benchmark: Any, figures: Figures, tmp_path: Path, mode: str) -> None:
    ready, _ = sources(discover([_plugins_dir(tmp_path, "wasm")]), {}, PluginCaps())
    engine = WasmEngine()
    host = PluginHost(storage=PluginStorage(tmp_path / "state"))
    plugin = WasmPlugin(ready[0], host, engine)
    plugin._module = engine.module(ready[0].entry_path)

    def cold() -> None:
        plugin._module = engine.compile(ready[0].entry_path)
        plugin._instantiate()

    def cached() -> None:
        plugin._module = engine.module(ready[0].entry_path)
        plugin._instantiate()

    benchmark.group = "wasm-instantiate"
    benchmark(cold if mode == "cold" else cached)
    assert plugin._exports is not None
    figures.record(f"plugins.wasm_instantiate_us.{mode}", benchmark.stats.stats.median * 1e6, "us",
                   note="compile + Store + instantiate" if mode == "cold" else "Store + instantiate (cached Module)")
