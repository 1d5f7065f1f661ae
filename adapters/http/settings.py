"""What the HTTP adapter needs to know from the configuration, as one small value."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_BODY_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Settings of the HTTP surface (web page, page chat API, WebSocket, OpenAI-compatible endpoint).

    `token` is `gateway.auth.token`: when set, every API call and WebSocket must present it; an empty
    string counts as no token. `agent_ids` are the agents a `model` may name; `default_agent` answers
    any other model name. `max_message_chars` caps the new user text of one request (413 above it);
    `max_body_bytes` caps any request body before it is parsed.
    """

    token: str | None = None
    openai_enabled: bool = False
    max_message_chars: int = 32_000
    agent_ids: Sequence[str] = ("main",)
    default_agent: str = "main"
    channel: str = "web"
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    ws_auth_timeout: float = 10.0
    # The detail of /readyz (channels, model endpoint; rustyclaw/health.py); None: the status only.
    health: Callable[[], Awaitable[dict[str, Any]]] | None = None

    @property
    def auth_token(self) -> str | None:
        return self.token or None
