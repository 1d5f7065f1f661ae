"""Session keys in OpenClaw's form, derived from the scope settings and the inbound message."""

from __future__ import annotations

from rustyclaw.domain.messages import InboundMessage
from rustyclaw.domain.settings import SessionSettings

# The channel name of the HTTP surfaces (OpenAI endpoint, web chat).
HTTP_CHANNEL = "web"


def main_key(agent_id: str, settings: SessionSettings) -> str:
    return f"agent:{agent_id}:{settings.main_key}"


def session_key(message: InboundMessage, agent_id: str, settings: SessionSettings) -> str:
    """`agent:<a>:main`, `agent:<a>:direct:<peer>`, `agent:<a>:<ch>:direct:<peer>`,
    `agent:<a>:<ch>:<account>:direct:<peer>`, `agent:<a>:<ch>:group:<id>` (+ `:thread:<id>`)."""
    base = f"agent:{agent_id}"
    if message.channel == "cron" and message.session_hint is not None:
        # Every scheduled job keeps its own session (OpenClaw's `cron:<jobId>`, under its agent).
        return f"{base}:cron:{message.session_hint}"
    if settings.scope == "global":
        return f"{base}:global"
    if message.session_hint is not None:
        # A driving adapter that names its session (the OpenAI endpoint's `user`) gets its own.
        hint = message.session_hint
        if hint == settings.main_key:
            return main_key(agent_id, settings)
        if message.channel == HTTP_CHANNEL:
            # OpenClaw's HTTP endpoint keys a `user` as a main-style key, `agent:<a>:openai-user:<user>`
            # (lower-cased), whatever dmScope says: it is no direct-DM row, so OpenClaw's
            # `sessions cleanup --fix-dm-scope` leaves it alone, and a migrated one is continued.
            return f"{base}:openai-user:{hint.strip().lower()}"
        return f"{base}:{message.channel}:direct:{hint}"
    if message.chat_kind == "direct":
        # OpenClaw lower-cases the peer id (and the channel) in direct keys.
        peer = message.peer_id.strip().lower()
        match settings.dm_scope:
            case "main":
                return main_key(agent_id, settings)
            case "per-peer":
                return f"{base}:direct:{peer}"
            case "per-channel-peer":
                return f"{base}:{message.channel}:direct:{peer}"
            case "per-account-channel-peer":
                return f"{base}:{message.channel}:{message.account}:direct:{peer}"
    kind = "channel" if message.chat_kind == "channel" else "group"
    key = f"{base}:{message.channel}:{kind}:{message.peer_id}"
    if message.thread_id is not None:
        key += f":thread:{message.thread_id}"
    return key


def agent_of(key: str) -> str:
    """The agent id inside a key (`agent:<a>:...`); 'main' for keys of another form."""
    parts = key.split(":", 2)
    return parts[1] if len(parts) > 2 and parts[0] == "agent" else "main"
