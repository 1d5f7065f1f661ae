"""The host API plugins call: llm, storage, messaging, web (and log, config), permission-checked first.

`PluginHost.call(manifest, api, args)` checks the manifest's permissions before it looks at the
arguments: a call without its permission raises PluginPermissionError and no backend is touched.

- `llm.complete {prompt, system?, maxTokens?, task?}` -> `{text, model}` through the LLM port.
- `storage.get {key}` -> value or null; `storage.set {key, value}`; `storage.delete {key}`;
  `storage.keys {}` -> [keys]. Each plugin has its own JSON file
  `<state>/plugins/<name>/storage.json`, at most `storage_max_bytes` (PluginStorage here), or its
  rows in PostgreSQL with `storage.backend: postgres` (adapters/plugins/postgres_kv.py).
- `messaging.send {channel, peerId, text, account?, chatKind?, threadId?}` through the `send`
  callable the composition root provides.
- `web.fetch {url}` -> `{status, contentType, text}` through the `fetch` callable (the SSRF guard).
- `log {level?, message}` and `config.get {}` need no permission.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import anyio
import msgspec

from rustyclaw.domain.errors import RustyClawError
from rustyclaw.domain.messages import ChatMessage, OutboundMessage
from rustyclaw.domain.plugins import PluginError, PluginManifest, check_permission
from rustyclaw.ports.llm import LLMClient, LLMRequest
from rustyclaw.ports.plugins import Fetch, PluginKV, Send

log = logging.getLogger("rustyclaw.plugins")

_LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_KEY_LIMIT = 256


def _arg(args: dict[str, Any], name: str, kind: type, api: str, default: Any = ...) -> Any:
    value = args.get(name, default)
    if value is ...:
        raise PluginError(f"{api}: argument {name!r} is required")
    if value is not None and not isinstance(value, kind):
        raise PluginError(f"{api}: argument {name!r} should be {kind.__name__}, got {type(value).__name__}")
    return value


class PluginStorage:
    """Key-value spaces, one JSON file per plugin, loaded lazily and written atomically."""

    def __init__(self, root: Path, max_bytes: int = 1_000_000) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._data: dict[str, dict[str, Any]] = {}
        self._locks: dict[str, anyio.Lock] = {}

    def _path(self, plugin: str) -> Path:
        return self.root / plugin / "storage.json"

    def _load(self, plugin: str) -> dict[str, Any]:
        if plugin not in self._data:
            try:
                raw = self._path(plugin).read_bytes()
                loaded = msgspec.json.decode(raw)
                self._data[plugin] = loaded if isinstance(loaded, dict) else {}
            except FileNotFoundError:
                self._data[plugin] = {}
            except (OSError, msgspec.DecodeError) as exc:
                raise PluginError(f"storage of plugin {plugin!r} cannot be read: {exc}") from exc
        return self._data[plugin]

    async def get(self, plugin: str, key: str) -> Any:
        return self._load(plugin).get(key)

    async def keys(self, plugin: str) -> list[str]:
        return sorted(self._load(plugin))

    async def set(self, plugin: str, key: str, value: Any) -> None:
        async with self._locks.setdefault(plugin, anyio.Lock()):
            data = dict(self._load(plugin))
            data[key] = value
            await self._write(plugin, data)

    async def delete(self, plugin: str, key: str) -> bool:
        async with self._locks.setdefault(plugin, anyio.Lock()):
            data = dict(self._load(plugin))
            found = data.pop(key, ...) is not ...
            if found:
                await self._write(plugin, data)
            return found

    async def _write(self, plugin: str, data: dict[str, Any]) -> None:
        raw = msgspec.json.encode(data)
        if len(raw) > self.max_bytes:
            raise PluginError(f"storage of plugin {plugin!r} would be {len(raw)} bytes; the limit is {self.max_bytes}")
        path = self._path(plugin)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name("storage.json.tmp")
            tmp.write_bytes(raw)
            os.replace(tmp, path)

        try:
            await anyio.to_thread.run_sync(write)
        except OSError as exc:
            raise PluginError(f"storage of plugin {plugin!r} cannot be written: {exc}") from exc
        self._data[plugin] = data


class PluginHost:
    """The HostApi: one per gateway, shared by every plugin of both runtimes."""

    def __init__(
        self,
        *,
        storage: PluginKV,
        llm: LLMClient | None = None,
        send: Send | None = None,
        fetch: Fetch | None = None,
        configs: dict[str, dict[str, Any]] | None = None,
        timeout_seconds: float = 30.0,
        llm_max_tokens: int = 1024,
    ) -> None:
        self.storage = storage
        self.llm = llm
        self.send = send
        self.fetch = fetch
        self.configs = configs or {}
        self.timeout_seconds = timeout_seconds
        self.llm_max_tokens = llm_max_tokens
        self.calls = 0

    async def call(self, manifest: PluginManifest, api: str, args: dict[str, Any]) -> Any:
        check_permission(manifest, api)  # first: nothing below runs without the permission
        self.calls += 1
        if not isinstance(args, dict):
            raise PluginError(f"{api}: args should be an object")
        name = manifest.name
        try:
            with anyio.fail_after(self.timeout_seconds):
                return await self._dispatch(name, api, args)
        except TimeoutError as exc:
            raise PluginError(f"{api} timed out after {self.timeout_seconds} s") from exc
        except PluginError:
            raise
        except RustyClawError as exc:
            raise PluginError(f"{api} failed: {exc}") from exc

    async def _dispatch(self, name: str, api: str, args: dict[str, Any]) -> Any:
        match api:
            case "log":
                level = _LOG_LEVELS.get(str(args.get("level", "info")), logging.INFO)
                log.log(level, "plugin %s: %s", name, str(args.get("message", ""))[:2000])
                return None
            case "config.get":
                return self.configs.get(name, {})
            case "storage.get":
                return await self.storage.get(name, self._key(args, api))
            case "storage.set":
                await self.storage.set(name, self._key(args, api), args.get("value"))
                return None
            case "storage.delete":
                return await self.storage.delete(name, self._key(args, api))
            case "storage.keys":
                return await self.storage.keys(name)
            case "llm.complete":
                return await self._llm(args)
            case "messaging.send":
                return await self._send(args)
            case "web.fetch":
                return await self._fetch(args)
        raise PluginError(f"unknown host API {api!r}")

    @staticmethod
    def _key(args: dict[str, Any], api: str) -> str:
        key: str = _arg(args, "key", str, api)
        if not key or len(key) > _KEY_LIMIT:
            raise PluginError(f"{api}: key should have 1 to {_KEY_LIMIT} characters")
        return key

    async def _llm(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.llm is None:
            raise PluginError("llm.complete: no language model in this gateway")
        prompt: str = _arg(args, "prompt", str, "llm.complete")
        system: str | None = _arg(args, "system", str, "llm.complete", None)
        max_tokens: int | None = _arg(args, "maxTokens", int, "llm.complete", None)
        task: str = _arg(args, "task", str, "llm.complete", "default")
        messages = [ChatMessage(role="system", content=system)] if system else []
        messages.append(ChatMessage(role="user", content=prompt))
        request = LLMRequest(
            messages=messages, task=task,
            max_tokens=min(max_tokens or self.llm_max_tokens, self.llm_max_tokens),
        )
        result = await self.llm.complete(request)
        return {"text": result.message.content, "model": result.model}

    async def _send(self, args: dict[str, Any]) -> None:
        if self.send is None:
            raise PluginError("messaging.send: no channel delivery in this gateway")
        api = "messaging.send"
        chat_kind = _arg(args, "chatKind", str, api, "direct")
        if chat_kind not in ("direct", "group", "channel", "thread"):
            raise PluginError(f"{api}: chatKind should be direct, group, channel or thread")
        message = OutboundMessage(
            channel=_arg(args, "channel", str, api), peer_id=_arg(args, "peerId", str, api),
            text=_arg(args, "text", str, api), account=_arg(args, "account", str, api, "default"),
            chat_kind=chat_kind, thread_id=_arg(args, "threadId", str, api, None),
        )
        await self.send(message)

    async def _fetch(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.fetch is None:
            raise PluginError("web.fetch: no web access in this gateway")
        url: str = _arg(args, "url", str, "web.fetch")
        status, content_type, text = await self.fetch(url)
        return {"status": status, "contentType": content_type, "text": text}
