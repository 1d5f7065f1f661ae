"""An MCP tool result as the text a model reads back, capped like every other tool's output."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from rustyclaw.domain.errors import ToolError

if TYPE_CHECKING:
    from mcp_types import CallToolResult


def result_text(result: CallToolResult, limit: int) -> str:
    """Text parts joined; images, audio and binary resources described, not inlined (they would
    flood the context); a result the server marks as an error raises ToolError with its text."""
    from mcp_types import AudioContent, EmbeddedResource, ImageContent, ResourceLink, TextContent, TextResourceContents

    parts: list[str] = []
    for block in result.content:
        if isinstance(block, TextContent):
            parts.append(block.text)
        elif isinstance(block, ImageContent | AudioContent):
            kind = "image" if isinstance(block, ImageContent) else "audio"
            parts.append(f"[{kind} {block.mime_type}, {len(block.data) * 3 // 4} bytes]")
        elif isinstance(block, EmbeddedResource):
            res = block.resource
            if isinstance(res, TextResourceContents):
                parts.append(res.text)
            else:
                parts.append(f"[resource {res.uri} {res.mime_type or 'binary'}]")
        elif isinstance(block, ResourceLink):
            parts.append(f"[link {block.name}: {block.uri}]")
    if not parts and result.structured_content is not None:
        parts.append(msgspec.json.encode(result.structured_content).decode())
    text = "\n".join(parts) if parts else "(no output)"
    text = cap(text, limit)
    if result.is_error:
        raise ToolError(text)
    return text


def cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... truncated: showed {limit} of {len(text)} characters]"
