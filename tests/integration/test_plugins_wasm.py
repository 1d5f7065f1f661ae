"""WASM plugins on real wasmtime, through a real Gateway: limits, permissions, rewrite and command."""

from __future__ import annotations

from pathlib import Path

import pytest

from rustyclaw.adapters.plugins.loader import PluginCaps
from rustyclaw.adapters.plugins.wasm_runtime import WasmPlugin
from rustyclaw.domain.plugins import CommandEvent, MessageEvent, PluginMessage
from tests.integration.plugins_kit import (
    EXAMPLES,
    FETCH_WAT,
    GROW_WAT,
    OK_WAT,
    SPIN_WAT,
    make_hooked_gateway,
    start_manager,
    wat_module,
    write_plugin,
)
from tests.unit.fakes import Step
from tests.unit.gateway_kit import inbound

pytestmark = pytest.mark.anyio


def _message(text: str) -> PluginMessage:
    return PluginMessage(channel="web", peer_id="u1", sender_id="u1", text=text, session_key="k")


async def test_endless_loop_is_stopped_by_fuel_and_the_gateway_keeps_answering(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "spin", source=SPIN_WAT, hooks={"onMessage": True}, limits={"fuel": 2_000_000})
    manager = await start_manager([plugins], tmp_path / "state")
    kit = await make_hooked_gateway(manager, steps=[Step(text="first answer"), Step(text="second answer")])

    first = await kit.gateway.handle(inbound("hello"))
    second = await kit.gateway.handle(inbound("again"))

    assert first is not None and first.text == "first answer"
    assert second is not None and second.text == "second answer"
    # The agent got the messages unchanged, and the plugin trapped each time (then re-instantiated).
    assert [r.messages[-1].content for r in kit.llm.requests] == ["hello", "again"]
    spin = manager.instances[0]
    assert isinstance(spin, WasmPlugin) and spin.traps == 2
    result = await spin.handle(MessageEvent(message=_message("x")))
    assert result.error is not None and "out of fuel" in result.error


async def test_memory_past_the_cap_fails_that_plugin_alone(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "a-grow", source=GROW_WAT, hooks={"onMessage": True}, limits={"memoryMb": 1})
    write_plugin(plugins, "b-shout", source=(EXAMPLES / "shout-wat" / "plugin.wat").read_text(),
                 hooks={"onMessage": True, "commands": ["shout"]})
    manager = await start_manager([plugins], tmp_path / "state", caps=PluginCaps(memory_mb=4))
    kit = await make_hooked_gateway(manager, steps=[Step(text="answered")])

    reply = await kit.gateway.handle(inbound("keep going"))

    assert reply is not None and reply.text == "answered"
    # The grower failed; the plugin after it still rewrote the message.
    assert kit.llm.requests[0].messages[-1].content == "KEEP GOING"
    grow = manager.instances[0]
    result = await grow.handle(MessageEvent(message=_message("x")))
    assert result.error is not None and "unreachable" in result.error
    # It could not take more than its 1 MiB cap (16 pages) before memory.grow said no.
    assert isinstance(grow, WasmPlugin) and grow.source.limits.memory_bytes == 1024 * 1024


async def test_a_module_larger_than_its_cap_is_not_loaded_and_others_are(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    big = "(module (memory (export \"memory\") 64) (func (export \"alloc\") (param i32) (result i32) "
    big += "(i32.const 8)) (func (export \"handle\") (param i32 i32) (result i64) (i64.const 0)))"
    write_plugin(plugins, "big", source=big, hooks={"onMessage": True}, limits={"memoryMb": 1})
    write_plugin(plugins, "ok", source=OK_WAT, hooks={"commands": ["ok"]})
    manager = await start_manager([plugins], tmp_path / "state")

    assert [p.name for p in manager.instances] == ["ok"]
    assert "big" in manager.failed and "cannot be instantiated" in manager.failed["big"]


async def test_without_the_web_permission_fetch_fails_at_the_plugin_and_never_reaches_the_host(
    tmp_path: Path,
) -> None:
    calls: list[str] = []

    async def fetch(url: str) -> tuple[int, str, str]:
        calls.append(url)
        return 200, "text/plain", "secret"

    plugins = tmp_path / "plugins"
    write_plugin(plugins, "nosy", source=FETCH_WAT, hooks={"commands": ["nosy"]}, permissions=["storage"])
    write_plugin(plugins, "allowed", source=FETCH_WAT, hooks={"commands": ["allowed"]}, permissions=["web"])
    manager = await start_manager([plugins], tmp_path / "state", fetch=fetch)
    kit = await make_hooked_gateway(manager)

    denied = await kit.gateway.handle(inbound("/nosy"))
    assert denied is not None and denied.command == "nosy"
    assert "permission denied: web.fetch needs the 'web' permission" in denied.text
    assert "'ok':false" in denied.text and "'code':'permission'" in denied.text
    assert calls == []
    assert kit.llm.requests == []  # a command answer never asks the agent

    granted = await kit.gateway.handle(inbound("/allowed"))
    assert granted is not None and "'status':200" in granted.text and "secret" in granted.text
    assert calls == ["http://127.0.0.1:9/"]


async def test_on_message_rewrites_and_a_command_answers(tmp_path: Path) -> None:
    manager = await start_manager([EXAMPLES], tmp_path / "state", enabled={"counter": False, "notes": False})
    kit = await make_hooked_gateway(manager, steps=[Step(text="model saw it")])

    rewritten = await kit.gateway.handle(inbound('say "hi" to bob'))
    command = await kit.gateway.handle(inbound("/shout make it loud"))
    builtin = await kit.gateway.handle(inbound("/help"))

    assert rewritten is not None and rewritten.text == "model saw it"
    assert kit.llm.requests[0].messages[-1].content == 'SAY "HI" TO BOB'
    assert command is not None and command.text == "MAKE IT LOUD" and command.command == "shout"
    # Built-in commands are the gateway's: the plugin neither sees nor rewrites them.
    assert builtin is not None and builtin.command == "help"
    assert len(kit.llm.requests) == 1


async def test_wasi_imports_are_refused_with_the_import_named(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    source = wat_module(
        '(func (export "handle") (param i32 i32) (result i64) (i64.const 0))',
        imports='(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))',
    )
    write_plugin(plugins, "wasi", source=source, hooks={"onMessage": True})
    manager = await start_manager([plugins], tmp_path / "state")
    assert manager.instances == []
    assert "wasi_snapshot_preview1.fd_write" in manager.failed["wasi"]
    assert "no WASI" in manager.failed["wasi"]


async def test_the_wasm_plugin_gets_its_config_in_each_event(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    # Replies with the raw event it received (quotes swapped), to show what crosses the boundary.
    echo = wat_module("""
      (data (i32.const 128) "{\\"action\\":\\"reply\\",\\"text\\":\\"")
      (func (export "handle") (param $p i32) (param $n i32) (result i64)
        (local $out i32) (local $i i32) (local $c i32)
        (local.set $out (call $alloc (i32.add (local.get $n) (i32.const 32))))
        (memory.copy (local.get $out) (i32.const 128) (i32.const 26))
        (block $done (loop $copy
          (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
          (local.set $c (i32.load8_u (i32.add (local.get $p) (local.get $i))))
          (if (i32.eq (local.get $c) (i32.const 34)) (then (local.set $c (i32.const 39))))
          (i32.store8 (i32.add (local.get $out) (i32.add (i32.const 26) (local.get $i))) (local.get $c))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $copy)))
        (i32.store16 (i32.add (local.get $out) (i32.add (i32.const 26) (local.get $n))) (i32.const 0x7d22))
        (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32))
                (i64.extend_i32_u (i32.add (local.get $n) (i32.const 28)))))
    """)
    schema = {"type": "object", "properties": {"greeting": {"type": "string", "default": "hi"}}}
    write_plugin(plugins, "echo", source=echo, hooks={"commands": ["echo"]}, config_schema=schema)
    manager = await start_manager([plugins], tmp_path / "state")
    result = await manager.instances[0].handle(CommandEvent(command="echo", args="a b", message=_message("/echo a b")))
    assert result.text is not None
    assert result.text.startswith("{'event':'command','command':'echo','args':'a b'")
    assert "'config':{'greeting':'hi'}" in result.text
