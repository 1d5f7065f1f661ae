"""`rustyclaw serve` loads plugins from config: a WASM plugin rewrites what the model sees and
answers its own command."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import RunningProxy

from .gateway_process import GatewayProcess, write_config

pytestmark = [pytest.mark.llama, pytest.mark.slow]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plugins"


def test_a_wasm_plugin_rewrites_messages_and_answers_its_command(
    tmp_path: Path, forcing_proxy: RunningProxy, llama_model: str
) -> None:
    plugins = tmp_path / "plugins"
    shutil.copytree(EXAMPLES / "shout-wat", plugins / "shout-wat")
    config = write_config(tmp_path / "rustyclaw.yaml", tmp_path / "state", forcing_proxy.url, llama_model,
                          plugins={"dirs": [str(plugins)]})
    gateway = GatewayProcess(config, tmp_path).start(timeout=30)
    try:
        command = httpx.post(f"{gateway.url}/api/chat", json={"message": "/shout hello there"}, timeout=60)
        assert command.status_code == 200, command.text
        assert command.json()["reply"] == "HELLO THERE"
        seen = len(forcing_proxy.proxy.requests)
        turn = httpx.post(f"{gateway.url}/api/chat", json={"message": "quiet words"}, timeout=300)
        assert turn.status_code == 200, turn.text
        sent = forcing_proxy.proxy.requests[seen]["messages"][-1]
        assert sent == {"role": "user", "content": "QUIET WORDS"}
    finally:
        assert gateway.stop() == 0, gateway.log()
