"""Provider-safe tool names for MCP tools, in OpenClaw's scheme: `<server>__<tool>`.

Characters outside `A-Za-z0-9_-` become `-`; a fragment that does not start with a letter gets a
prefix (`mcp-` for servers, `t-` for tools); server prefixes are capped at 30 characters and whole
names at 64 (what OpenAI-compatible APIs accept); clashes get numeric suffixes. Server prefixes are
lower-cased (OpenClaw: `mcp.servers["Outlook Graph"]` is `outlook-graph__*`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SEPARATOR = "__"
MAX_PREFIX = 30
MAX_NAME = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def server_prefix(server: str) -> str:
    text = _UNSAFE.sub("-", server.strip()).lower()
    if not text:
        return "mcp"
    if not text[0].isalpha():
        text = "mcp-" + text
    return text[:MAX_PREFIX]


def _tool_fragment(tool: str) -> str:
    text = _UNSAFE.sub("-", tool.strip()) or "tool"
    return text if text[0].isalpha() else "t-" + text


def tool_name(prefix: str, tool: str, taken: set[str]) -> str:
    """The exposed name for one tool, unique among `taken` (which it joins)."""
    base = f"{prefix}{SEPARATOR}{_tool_fragment(tool)}"[:MAX_NAME]
    name, n = base, 2
    while name in taken:
        suffix = f"-{n}"
        name = base[: MAX_NAME - len(suffix)] + suffix
        n += 1
    taken.add(name)
    return name


def unique_prefixes(servers: Iterable[str]) -> dict[str, str]:
    """Each server's prefix; two servers whose names sanitise alike get `-2`, `-3`..."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for server in sorted(servers):
        base = server_prefix(server)
        prefix, n = base, 2
        while prefix in used:
            suffix = f"-{n}"
            prefix = base[: MAX_PREFIX - len(suffix)] + suffix
            n += 1
        used.add(prefix)
        out[server] = prefix
    return out
