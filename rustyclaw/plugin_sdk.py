"""The SDK for Python plugins (trusted code, run in the gateway's process).

A plugin is a module whose functions carry these decorators::

    from rustyclaw.plugin_sdk import Host, Message, command, cron, on_message, on_start, rewrite, reply

    @on_message
    async def shout(message: Message, host: Host):
        if message.text.endswith("!"):
            return rewrite(message.text.upper())
        return None  # pass the message on unchanged

    @command("count")
    async def count(args: str, message: Message, host: Host) -> str:
        n = (await host.storage.get("n") or 0) + 1
        await host.storage.set("n", n)
        return f"called {n} times"

    @cron(every="1h")            # or @cron("*/5 * * * *") or @cron(at="2026-01-01T09:00")
    async def hourly(host: Host) -> None:
        await host.log("tick")

Handlers may be `async def` or plain `def`. `on_message` returns None (pass), `rewrite(text)` or
`reply(text)`; a command returns the reply text (or None for no reply). `host` calls are checked
against the manifest's `permissions` exactly as for WASM plugins: a call without its permission
raises `PermissionDenied`. An exception in a handler is logged and the turn goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from rustyclaw.domain.cron import ScheduleSpec
from rustyclaw.domain.plugins import (
    HandlerResult,
    PluginManifest,
    PluginMessage,
    PluginPermissionError,
)
from rustyclaw.ports.plugins import HostApi

__all__ = [
    "Host",
    "Message",
    "PermissionDenied",
    "command",
    "cron",
    "on_message",
    "on_start",
    "on_stop",
    "reply",
    "rewrite",
]

Message = PluginMessage
PermissionDenied = PluginPermissionError
F = TypeVar("F", bound=Callable[..., Any])

HOOK_ATTRIBUTE = "__rustyclaw_hook__"


class HookMark(msgspec.Struct, frozen=True):
    """What a decorator attached to a function: the kind of event and its argument."""

    kind: str
    name: str | None = None
    schedule: ScheduleSpec | None = None


def _mark(fn: F, mark: HookMark) -> F:
    marks: list[HookMark] = list(getattr(fn, HOOK_ATTRIBUTE, ()))
    marks.append(mark)
    setattr(fn, HOOK_ATTRIBUTE, marks)
    return fn


def on_message(fn: F) -> F:
    """`fn(message, host)` sees each message before the agent; returns None, rewrite() or reply()."""
    return _mark(fn, HookMark("on_message"))


def command(name: str) -> Callable[[F], F]:
    """`fn(args, message, host)` answers `/name args`; returns the reply text."""
    return lambda fn: _mark(fn, HookMark("command", name.lstrip("/").lower()))


def cron(expression: str | None = None, *, every: str | None = None, at: str | None = None,
         id: str | None = None) -> Callable[[F], F]:
    """`fn(host)` runs on a schedule: a cron expression, `every="5m"` or `at="<ISO time>"`.
    `id` names the job (default: the function's name); the scheduler runs it as `plugin:<name>:<id>`."""
    spec = ScheduleSpec(cron=expression, every=every, at=at)
    return lambda fn: _mark(fn, HookMark("cron", id or fn.__name__, spec))


def on_start(fn: F) -> F:
    """`fn(host)` runs when the gateway starts (an exception stops the plugin from loading)."""
    return _mark(fn, HookMark("on_start"))


def on_stop(fn: F) -> F:
    """`fn(host)` runs when the gateway stops."""
    return _mark(fn, HookMark("on_stop"))


def rewrite(text: str) -> HandlerResult:
    """From on_message: go on with this text instead (the next plugin and the agent see it)."""
    return HandlerResult(action="rewrite", text=text)


def reply(text: str) -> HandlerResult:
    """From on_message: answer with this text; the agent is not asked."""
    return HandlerResult(action="reply", text=text)


class _Part:
    def __init__(self, host: Host) -> None:
        self._host = host


class _Llm(_Part):
    async def complete(self, prompt: str, *, system: str | None = None, max_tokens: int | None = None,
                       task: str = "default") -> str:
        args: dict[str, Any] = {"prompt": prompt, "task": task}
        if system is not None:
            args["system"] = system
        if max_tokens is not None:
            args["maxTokens"] = max_tokens
        result = await self._host.call("llm.complete", **args)
        return str(result["text"])


class _Storage(_Part):
    async def get(self, key: str) -> Any:
        return await self._host.call("storage.get", key=key)

    async def set(self, key: str, value: Any) -> None:
        await self._host.call("storage.set", key=key, value=value)

    async def delete(self, key: str) -> bool:
        return bool(await self._host.call("storage.delete", key=key))

    async def keys(self) -> list[str]:
        return list(await self._host.call("storage.keys"))


class _Messaging(_Part):
    async def send(self, channel: str, peer_id: str, text: str, *, account: str = "default",
                   chat_kind: str = "direct", thread_id: str | None = None) -> None:
        args: dict[str, Any] = {"channel": channel, "peerId": peer_id, "text": text, "account": account,
                                "chatKind": chat_kind}
        if thread_id is not None:
            args["threadId"] = thread_id
        await self._host.call("messaging.send", **args)


class FetchResult(msgspec.Struct, frozen=True, kw_only=True):
    status: int
    content_type: str
    text: str


class _Web(_Part):
    async def fetch(self, url: str) -> FetchResult:
        raw = await self._host.call("web.fetch", url=url)
        return FetchResult(status=raw["status"], content_type=raw["contentType"], text=raw["text"])


class Host:
    """The host API of one plugin: `llm`, `storage`, `messaging`, `web`, `log`, `config`."""

    def __init__(self, api: HostApi, manifest: PluginManifest, config: dict[str, Any]) -> None:
        self._api = api
        self.manifest = manifest
        self.config = config
        self.llm = _Llm(self)
        self.storage = _Storage(self)
        self.messaging = _Messaging(self)
        self.web = _Web(self)

    @property
    def name(self) -> str:
        return self.manifest.name

    async def call(self, api: str, **args: Any) -> Any:
        """The raw host call (the WASM ABI's `{api, args}`); raises PermissionDenied or PluginError."""
        return await self._api.call(self.manifest, api, args)

    async def log(self, message: str, level: str = "info") -> None:
        await self.call("log", message=message, level=level)
