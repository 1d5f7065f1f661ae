"""The C example plugin, compiled by clang to wasm32 (scripts/build-wasm-examples.sh), on wasmtime."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from rustyclaw.domain.messages import InboundMessage
from tests.integration.plugins_kit import EXAMPLES, REPO, make_hooked_gateway, start_manager
from tests.unit.gateway_kit import inbound

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def counter_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # clang and lld come from scripts/install.d/50-wasm-toolchain.sh; the build is the project's own.
    subprocess.run([str(REPO / "scripts" / "build-wasm-examples.sh")], check=True, capture_output=True)
    root = tmp_path_factory.mktemp("plugins")
    shutil.copytree(EXAMPLES / "counter-c", root / "counter-c")
    assert (root / "counter-c" / "plugin.wasm").stat().st_size > 0
    return root


async def test_c_plugin_keeps_a_counter_in_its_storage(counter_plugin: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    manager = await start_manager([counter_plugin], state)
    kit = await make_hooked_gateway(manager)

    replies = [await kit.gateway.handle(kit_message) for kit_message in _commands("/count", "/count", "/count")]

    assert [r.text for r in replies if r is not None] == ["count: 1", "count: 2", "count: 3"]
    assert json.loads((state / "counter" / "storage.json").read_text()) == {"count": 3}
    assert kit.llm.requests == []

    # A new manager over the same state folder (a restart) continues from the stored value.
    await manager.aclose()
    again = await start_manager([counter_plugin], state)
    kit2 = await make_hooked_gateway(again)
    reply = await kit2.gateway.handle(_commands("/count")[0])
    assert reply is not None and reply.text == "count: 4"


async def test_c_plugin_counts_words_and_is_denied_the_web(counter_plugin: Path, tmp_path: Path) -> None:
    fetched: list[str] = []

    async def fetch(url: str) -> tuple[int, str, str]:
        fetched.append(url)
        return 200, "text/html", ""

    manager = await start_manager([counter_plugin], tmp_path / "state", fetch=fetch)
    kit = await make_hooked_gateway(manager)
    words, web = [await kit.gateway.handle(m) for m in _commands('/words one "two" three', "/fetch http://x.test/")]
    assert words is not None and words.text == "3 words"
    assert web is not None
    assert web.text.startswith("error: permission denied: web.fetch needs the 'web' permission")
    assert fetched == []


def _commands(*texts: str) -> list[InboundMessage]:
    return [inbound(t) for t in texts]
