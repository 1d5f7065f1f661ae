"""OpenClaw's spellings met in a RustyClaw file: the error names the RustyClaw key to use.

An `openclaw.json` pasted (or partly copied) into a RustyClaw config fails on keys RustyClaw
spells differently. Each entry maps an OpenClaw key path (`*` matches one key or list index) to
what to write instead; `rustyclaw migrate openclaw` converts a whole file.
"""

from __future__ import annotations

from collections.abc import Sequence

_MIGRATE = "`rustyclaw migrate openclaw` converts a whole openclaw.json"

_HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("session",), "OpenClaw's name for the section: RustyClaw's is 'sessions' (same keys: dmScope, reset, ...)"),
    (("models",), "OpenClaw's name for the section: RustyClaw's is 'llm' (models.providers -> llm.providers)"),
    (("agents", "defaults", "model"), "use llm.routes.default.primary (and .fallbacks)"),
    (("agents", "defaults", "sandbox"), "use the top-level 'sandbox' section"),
    (("agents", "defaults", "workspace"), "use agents.workspace"),
    (
        ("agents", "defaults"),
        "RustyClaw has no agents.defaults: its keys go directly under 'agents' (workspace, "
        "bootstrapMaxChars, ...), the model under llm.routes.default, the sandbox under 'sandbox'",
    ),
    (("agents", "list", "*", "default"), "use agents.defaultAgent: <id>"),
    (("gateway", "http"), "use gateway.openaiEndpoint.enabled (OpenClaw: gateway.http.endpoints.chatCompletions)"),
    (("gateway", "bind"), "use gateway.host (loopback -> 127.0.0.1, lan -> 0.0.0.0)"),
    (("gateway", "mode"), "RustyClaw always runs its gateway locally: remove gateway.mode"),
    (("gateway", "auth", "mode"), "RustyClaw's gateway auth is a bearer token: set gateway.auth.token only"),
    (("toolsBySender",), "use tools.bySender"),
    (("*", "toolsBySender"), "use tools.bySender"),
    (("channels", "*", "toolsBySender"), "use tools.bySender"),
    (("channels", "*", "groups", "*", "toolsBySender"), "use tools.bySender"),
    (("channels", "*", "botToken"), "botToken is Telegram's key; Discord's is 'token'"),
    (("bindings",), "RustyClaw has no bindings yet: every chat goes to agents.defaultAgent"),
)


def _matches(pattern: tuple[str, ...], keys: Sequence[str]) -> bool:
    return len(pattern) == len(keys) and all(p in ("*", k) for p, k in zip(pattern, keys, strict=True))


def openclaw_hint(keys: Sequence[str]) -> str | None:
    """What to write instead of the unknown key at `keys`, when it is an OpenClaw spelling."""
    for pattern, hint in _HINTS:
        if _matches(pattern, keys):
            return f"{hint}; {_MIGRATE}"
    return None
