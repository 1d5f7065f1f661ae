"""domain/plugins.py: manifests, permissions, config schemas, and the dispatch rules (fake plugins)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rustyclaw.domain.events import Reply
from rustyclaw.domain.messages import InboundMessage
from rustyclaw.domain.plugins import (
    HandlerResult,
    MessageEvent,
    PluginConfigError,
    PluginDispatcher,
    PluginError,
    PluginEvent,
    PluginHooks,
    PluginManifest,
    PluginPermissionError,
    check_permission,
    decode_manifest,
    parse_plugin_command,
    validate_plugin_config,
)

pytestmark = pytest.mark.anyio


def manifest(**kw: Any) -> PluginManifest:
    base: dict[str, Any] = {"name": "p", "version": "1", "runtime": "wasm", "entry": "p.wasm"}
    base.update(kw)
    return decode_manifest(json.dumps(base).encode(), "test/manifest.json")


def test_manifest_fields_in_camel_case() -> None:
    m = manifest(permissions=["web", "llm"], hooks={"onMessage": True, "commands": ["go"],
                 "cron": [{"id": "t", "every": "5m"}]}, limits={"memoryMb": 4}, configSchema={"type": "object"})
    assert m.permissions == ["web", "llm"] and m.hooks.on_message and m.hooks.commands == ["go"]
    assert m.hooks.cron[0].spec().every == "5m" and m.limits.memory_mb == 4 and m.config_schema == {"type": "object"}


@pytest.mark.parametrize(
    ("change", "message"),
    [({"runtime": "lua"}, "runtime"), ({"permissions": ["root"]}, "permissions"), ({"name": "Bad Name"}, "name"),
     ({"entry": "../x.wasm"}, "entry"), ({"hooks": {"commands": ["Bad!"]}}, "command"),
     ({"hooks": {"cron": [{"id": "a"}, {"id": "a"}]}}, "twice")],
)
def test_bad_manifests_name_the_problem(change: dict[str, Any], message: str) -> None:
    with pytest.raises(PluginError, match=message) as info:
        manifest(**change)
    assert "test/manifest.json" in str(info.value)


def test_not_json_is_reported() -> None:
    with pytest.raises(PluginError, match="not valid JSON"):
        decode_manifest(b"{nope", "m.json")


def test_permissions_gate_each_api() -> None:
    m = manifest(permissions=["storage"])
    check_permission(m, "storage.get")
    check_permission(m, "log")
    check_permission(m, "config.get")
    for api, needed in [("web.fetch", "web"), ("llm.complete", "llm"), ("messaging.send", "messaging")]:
        with pytest.raises(PluginPermissionError, match=f"needs the '{needed}' permission"):
            check_permission(m, api)
    with pytest.raises(PluginError, match="unknown host API"):
        check_permission(m, "fs.read")


def test_config_schema_defaults_and_problems() -> None:
    schema = {
        "type": "object",
        "properties": {
            "greeting": {"type": "string", "default": "hi"},
            "times": {"type": "integer", "minimum": 1, "maximum": 5},
            "mode": {"enum": ["a", "b"]},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["times"],
        "additionalProperties": False,
    }
    m = manifest(configSchema=schema)
    assert validate_plugin_config(m, {"times": 2}) == {"times": 2, "greeting": "hi"}
    with pytest.raises(PluginConfigError) as info:
        validate_plugin_config(m, {"times": 9, "mode": "c", "tags": ["x", 1], "extra": True, "greeting": 3})
    text = str(info.value)
    for part in ["plugins.config.p", "times: 9 is above 5", "mode: 'c' is not one of", "tags[1]: expected string",
                 "extra: unknown key", "greeting: expected string"]:
        assert part in text
    with pytest.raises(PluginConfigError, match="times: required"):
        validate_plugin_config(m, {})
    with pytest.raises(PluginConfigError, match="expected integer, got bool"):
        validate_plugin_config(m, {"times": True})
    assert validate_plugin_config(manifest(), {"free": 1}) == {"free": 1}


def test_parse_plugin_command() -> None:
    assert parse_plugin_command("/shout hello there") == ("shout", "hello there")
    assert parse_plugin_command("/Shout@bot x") == ("shout", "x")
    assert parse_plugin_command("hello") is None
    assert parse_plugin_command("/") is None
    assert parse_plugin_command("/path/to/file") is None


class FakePlugin:
    def __init__(self, name: str, hooks: PluginHooks, answer: HandlerResult | Exception | None = None) -> None:
        self._name = name
        self._hooks = hooks
        self.answer = answer or HandlerResult()
        self.events: list[PluginEvent] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def hooks(self) -> PluginHooks:
        return self._hooks

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def handle(self, event: PluginEvent) -> HandlerResult:
        self.events.append(event)
        if isinstance(self.answer, Exception):
            raise self.answer
        if isinstance(event, MessageEvent) and self.answer.action == "rewrite":
            return HandlerResult(action="rewrite", text=f"{event.message.text} [{self.name}]")
        return self.answer


def msg(text: str) -> InboundMessage:
    return InboundMessage(channel="web", peer_id="u", sender_id="u", text=text)


async def test_rewrites_chain_in_order_and_a_reply_stops_the_chain() -> None:
    a = FakePlugin("a", PluginHooks(on_message=True), HandlerResult(action="rewrite"))
    b = FakePlugin("b", PluginHooks(on_message=True), HandlerResult(action="rewrite"))
    c = FakePlugin("c", PluginHooks(on_message=True), HandlerResult(action="reply", text="answered"))
    d = FakePlugin("d", PluginHooks(on_message=True), HandlerResult(action="rewrite"))
    out = await PluginDispatcher([a, b]).before_turn(msg("hi"), "k")
    assert isinstance(out, InboundMessage) and out.text == "hi [a] [b]"
    reply = await PluginDispatcher([a, c, d]).before_turn(msg("hi"), "k")
    assert isinstance(reply, Reply) and reply.text == "answered" and reply.session_key == "k"
    assert reply.model == "plugin/c" and d.events == []
    assert isinstance(c.events[0], MessageEvent) and c.events[0].message.text == "hi [a]"


async def test_pass_returns_none_and_failures_count_as_pass() -> None:
    quiet = FakePlugin("q", PluginHooks(on_message=True))
    broken = FakePlugin("x", PluginHooks(on_message=True), RuntimeError("bug"))
    assert await PluginDispatcher([quiet, broken]).before_turn(msg("hi"), "k") is None
    empty = FakePlugin("e", PluginHooks(on_message=True), HandlerResult(action="rewrite", text="  "))
    empty.answer = HandlerResult(action="reply", text=None)  # a reply without text is a pass too
    assert await PluginDispatcher([empty]).before_turn(msg("hi"), "k") is None


async def test_too_long_rewrites_are_refused() -> None:
    long = FakePlugin("l", PluginHooks(on_message=True), HandlerResult(action="rewrite"))
    assert await PluginDispatcher([long], max_chars=5).before_turn(msg("hello"), "k") is None


async def test_commands_route_to_their_plugin_and_builtins_stay_builtin() -> None:
    cmd = FakePlugin("c", PluginHooks(commands=["go", "status", "new"]), HandlerResult(action="reply", text="went"))
    watcher = FakePlugin("w", PluginHooks(on_message=True, commands=["go"]), HandlerResult(action="rewrite"))
    dispatcher = PluginDispatcher([cmd, watcher])
    assert dispatcher.commands == {"go": "c"}
    reply = await dispatcher.before_turn(msg("/go far away"), "k")
    assert isinstance(reply, Reply) and reply.text == "went" and reply.command == "go"
    assert cmd.events[0].args == "far away"  # type: ignore[union-attr]
    assert watcher.events == []  # a command is not an on_message event
    # Built-in commands and reset triggers pass by the plugins untouched.
    assert await dispatcher.before_turn(msg("/status"), "k") is None
    assert await dispatcher.before_turn(msg("/new"), "k") is None
    assert watcher.events == []
    # An unknown slash text is an ordinary message.
    out = await dispatcher.before_turn(msg("/unknown x"), "k")
    assert isinstance(out, InboundMessage) and out.text == "/unknown x [w]"


async def test_a_failing_command_answers_with_an_error() -> None:
    bad = FakePlugin("b", PluginHooks(commands=["go"]), HandlerResult(error="trapped"))
    reply = await PluginDispatcher([bad]).before_turn(msg("/go"), "k")
    assert isinstance(reply, Reply) and reply.error == "The /go command failed." and reply.finish_reason == "error"


async def test_no_plugins_means_no_work() -> None:
    dispatcher = PluginDispatcher([])
    assert not dispatcher.active()
    assert await dispatcher.before_turn(msg("hi"), "k") is None
