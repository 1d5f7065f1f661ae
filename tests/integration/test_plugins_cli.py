"""`rustyclaw plugins list|info|new`: scaffolds that load and answer, listings that run no plugin code."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from rustyclaw.cli_plugins import add_plugins_parser, run_plugins
from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.domain.plugins import PluginError
from tests.integration.plugins_kit import make_hooked_gateway, start_manager
from tests.unit.gateway_kit import inbound

pytestmark = pytest.mark.anyio


def cli(argv: list[str], cfg: RustyClawConfig) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    add_plugins_parser(parser.add_subparsers(dest="command"))
    out = io.StringIO()
    code = run_plugins(parser.parse_args(["plugins", *argv]), out=out, cfg=cfg)
    return code, out.getvalue()


def config(plugins: Path, **extra: object) -> RustyClawConfig:
    return RustyClawConfig.model_validate({"plugins": {"dirs": [str(plugins)], **extra}})


@pytest.mark.parametrize("runtime", ["wasm", "python"])
async def test_new_scaffolds_a_plugin_that_loads_and_answers(tmp_path: Path, runtime: str) -> None:
    plugins = tmp_path / "plugins"
    code, text = cli(["new", "my-tool", "--runtime", runtime], config(plugins))
    assert code == 0 and "try /my_tool" in text
    manager = await start_manager([plugins], tmp_path / "state")
    assert [p.name for p in manager.instances] == ["my-tool"]
    kit = await make_hooked_gateway(manager)
    reply = await kit.gateway.handle(inbound("/my_tool"))
    assert reply is not None and reply.text == "Hello from my-tool!"
    passed = await kit.gateway.handle(inbound("hello"))
    assert passed is not None and kit.llm.requests[-1].messages[-1].content == "hello"
    with pytest.raises(PluginError, match="already exists"):
        cli(["new", "my-tool", "--runtime", runtime], config(plugins))


def test_list_and_info(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    cfg = config(plugins, enabled={"quiet": False}, config={"loud": {"nope": 1}})
    cli(["new", "loud", "--runtime", "wasm"], cfg)
    cli(["new", "quiet", "--runtime", "python"], cfg)
    broken = plugins / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text('{"name": "broken"}')

    code, text = cli(["list"], cfg)
    assert code == 0
    lines = {line.split()[0]: line for line in text.splitlines()[1:]}
    assert "Object missing required field `version`" in lines["broken"]
    assert "wasm" in lines["loud"] and " yes " in lines["loud"]
    assert "python" in lines["quiet"] and " no " in lines["quiet"]

    code, text = cli(["info", "loud"], cfg)
    assert code == 1  # its config has a key its schema does not know
    assert "Hooks:       on_message, /loud" in text and "32 MiB memory" in text
    assert "nope: unknown key" in text
    code, text = cli(["info", "quiet"], cfg)
    assert code == 0 and "Enabled:     no" in text and "Config:      {}" in text


def test_list_without_plugins_says_how_to_make_one(tmp_path: Path) -> None:
    code, text = cli(["list"], config(tmp_path / "none"))
    assert code == 0 and "rustyclaw plugins new" in text
