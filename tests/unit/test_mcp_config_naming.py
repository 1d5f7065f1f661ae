"""MCP config validation (OpenClaw's keys accepted, bad shapes refused) and OpenClaw's tool naming."""

from __future__ import annotations

from pathlib import Path

import pytest

from rustyclaw.adapters.mcp.naming import server_prefix, tool_name, unique_prefixes
from rustyclaw.adapters.mcp.settings import mcp_settings
from rustyclaw.config.loader import load_config
from rustyclaw.domain.errors import ConfigError


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(str(path), env={"RUSTYCLAW_HOME": str(tmp_path)}).config


def test_stdio_and_http_servers_with_openclaw_keys(tmp_path: Path) -> None:
    cfg = _load(tmp_path, """
mcp:
  servers:
    files: {command: node, args: [server.js], env: {API_KEY: s3cret}, workingDirectory: /srv, lazy: true}
    docs: {url: "https://mcp.example.com/mcp", headers: {Authorization: "Bearer t"}, requestTimeoutMs: 5000,
           toolFilter: {include: ["search*"]}}
    old: {url: "http://127.0.0.1:9/sse", transport: sse, enabled: false}
agents:
  list: [{id: main, mcp: [files]}]
""")
    settings = mcp_settings(cfg.mcp, tmp_path)  # type: ignore[attr-defined]
    by_name = {s.name: s for s in settings.servers}
    files, docs, old = by_name["files"], by_name["docs"], by_name["old"]
    assert (files.transport, files.cwd, files.lazy, files.env["API_KEY"]) == ("stdio", Path("/srv"), True, "s3cret")
    assert (docs.transport, docs.request_timeout, docs.include) == ("streamable-http", 5.0, ("search*",))
    assert (old.transport, old.enabled) == ("sse", False)
    assert "s3cret" not in repr(cfg) and "Bearer t" not in repr(cfg)  # secrets stay hidden
    assert docs.launch() == "streamable-http https://mcp.example.com/mcp"
    assert cfg.agents.list[0].mcp == ["files"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("server", "message"), [
    ("{command: node, url: 'http://x'}", "not both"),
    ("{args: [x]}", "needs a command"),
    ("{url: 'ftp://x'}", "should start with http"),
    ("{command: node, env: {LD_PRELOAD: /x.so}}", "env.LD_PRELOAD"),
    ("{command: node, env: {NODE_OPTIONS: --require=x}}", "env.NODE_OPTIONS"),
    ("{command: node, timeoutSecond: 3}", "timeoutSeconds"),
    ("{transport: stdio, url: 'http://x'}", "stdio needs a command"),
])
def test_bad_servers_are_refused_with_the_key_path(tmp_path: Path, server: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        _load(tmp_path, f"mcp:\n  servers:\n    bad: {server}\n")
    assert "mcp.servers.bad" in str(info.value)


def test_openclaw_naming_scheme() -> None:
    assert server_prefix("vigil-harbor") == "vigil-harbor"
    assert server_prefix("Outlook Graph") == "outlook-graph"
    assert server_prefix("12306") == "mcp-12306"
    assert server_prefix("") == "mcp"
    assert len(server_prefix("x" * 80)) == 30
    taken: set[str] = set()
    assert tool_name("vigil-harbor", "memory_search", taken) == "vigil-harbor__memory_search"
    assert tool_name("s", "get.thing", taken) == "s__get-thing"
    assert tool_name("s", "get thing", taken) == "s__get-thing-2"  # clash after sanitising
    assert tool_name("s", "9lives", taken) == "s__t-9lives"
    long = tool_name("p" * 30, "t" * 80, taken)
    assert len(long) == 64 and long.startswith("p" * 30 + "__")
    assert unique_prefixes(["a b", "a.b", "c"]) == {"a b": "a-b", "a.b": "a-b-2", "c": "c"}


def test_tool_schemas_lose_titles_but_keep_property_names() -> None:
    from rustyclaw.adapters.mcp.manager import _lean_schema

    schema = {"$schema": "x", "title": "args", "type": "object", "required": ["title"],
              "properties": {"title": {"title": "Title", "type": "string"},
                             "tags": {"type": "array", "items": {"title": "Tag", "type": "string"}},
                             "when": {"anyOf": [{"type": "string", "title": "W"}, {"type": "null"}]}}}
    assert _lean_schema(schema) == {
        "type": "object", "required": ["title"],
        "properties": {"title": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
                       "when": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}
