"""The JSON routes behind the chat page's conversation list and the control page (`/control`).

Chat page (the web channel's own sessions; a conversation's id is the page's session id):
- `GET /api/conversations` -> `{"conversations": [{"id", "key", "title", "updated_at", "messages"}]}`
- `GET /api/conversations/{id}` -> `{"id", "key", "title", "messages": [{"role", "content", "created_at",
  "status"}]}`; `status` marks a reply that was cut (`length`), failed (`error`) or stopped.
- `PATCH /api/conversations/{id}` `{"title"}` renames; `DELETE /api/conversations/{id}` archives it
  (kept, like `/new`) and leaves it out of the list.
- `GET /api/commands` -> the gateway's own slash commands, for the page's completion.

Control page (every session, every channel):
- `GET /api/control/sessions?q=` and `GET /api/control/transcript?key=`, `GET /api/control/export?key=`
  (a JSON download), `POST /api/control/reset` `{"key"}`;
- `GET /api/control/channels`, `GET /api/control/pairing`, `POST /api/control/pairing/approve` and
  `/deny` `{"channel", "code"}`; `GET /api/control/agents`; `GET /api/control/cron`,
  `POST /api/control/cron/run` `{"id"}`; `GET /api/control/audit`; `GET /api/control/usage`;
  `GET /api/control/mcp` -> `{"servers": [...]}` (state, last error, restart backoff, tools; never
  env or header values); `GET /api/control/skills` -> `{"enabled", "skills": [...], "warnings"}`;
  `GET /api/control/config` (YAML, secrets hidden).

All of them need the gateway token when one is set (`Authorization: Bearer`), and the app checks
Host and Origin on every one (auth.check_browser_origin), GETs included: transcripts are private.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import parse_qs

import msgspec

from rustyclaw.adapters.http.asgi import (
    HttpError,
    Receive,
    Scope,
    Send,
    encode_json,
    read_body,
    send_bytes,
    send_json,
)
from rustyclaw.adapters.http.auth import check_bearer
from rustyclaw.adapters.http.settings import HttpSettings
from rustyclaw.adapters.http.validation import checked_session_id, decode_json
from rustyclaw.domain import commands
from rustyclaw.ports.control import ControlPlane

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]

CONVERSATIONS = "/api/conversations"
MAX_TITLE_CHARS = 120
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class TitleBody(msgspec.Struct):
    title: str


class KeyBody(msgspec.Struct):
    key: str


class PairingBody(msgspec.Struct):
    channel: str
    code: str


class JobBody(msgspec.Struct):
    id: str


def command_list() -> list[dict[str, str]]:
    """The gateway's commands from its own help text, one entry per spelling (`/new`, `/reset`)."""
    found: list[dict[str, str]] = []
    for line in commands.HELP_TEXT.splitlines():
        if not line.startswith("/"):
            continue
        names, _, description = line.partition(": ")
        for name in names.split(" or "):
            found.append({"name": name.split(" ")[0], "usage": name, "description": description})
    return found


def _query(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode("latin-1")
    return {k: v[-1] for k, v in parse_qs(raw).items()}


def _required(query: dict[str, str], name: str) -> str:
    value = query.get(name, "").strip()
    if not value:
        raise HttpError(400, f"the query parameter '{name}' is required", code="missing_parameter", param=name)
    return value


def _not_found(what: str, param: str) -> HttpError:
    return HttpError(404, f"no {what}", code="not_found", param=param)


class ControlRoutes:
    """Handlers of the routes above; `exact` and `prefixed` are what HttpApp mounts."""

    def __init__(self, control: ControlPlane, settings: HttpSettings) -> None:
        self._control = control
        self._settings = settings
        self.exact: dict[str, dict[str, Handler]] = {
            CONVERSATIONS: {"GET": self._conversations},
            "/api/commands": {"GET": self._commands},
            "/api/control/sessions": {"GET": self._sessions},
            "/api/control/transcript": {"GET": self._transcript},
            "/api/control/export": {"GET": self._export},
            "/api/control/reset": {"POST": self._reset},
            "/api/control/channels": {"GET": self._channels},
            "/api/control/pairing": {"GET": self._pairing},
            "/api/control/pairing/approve": {"POST": self._approve},
            "/api/control/pairing/deny": {"POST": self._deny},
            "/api/control/agents": {"GET": self._agents},
            "/api/control/cron": {"GET": self._cron},
            "/api/control/cron/run": {"POST": self._run_cron},
            "/api/control/audit": {"GET": self._audit},
            "/api/control/usage": {"GET": self._usage},
            "/api/control/mcp": {"GET": self._mcp},
            "/api/control/skills": {"GET": self._skills},
            "/api/control/config": {"GET": self._config},
        }
        self.prefixed: list[tuple[str, dict[str, Handler]]] = [
            (CONVERSATIONS + "/", {"GET": self._conversation, "PATCH": self._rename, "DELETE": self._delete}),
        ]

    # -- helpers ----------------------------------------------------------------

    def _auth(self, scope: Scope) -> None:
        check_bearer(scope, self._settings.auth_token)

    async def _body(self, scope: Scope, receive: Receive, kind: type[Any]) -> Any:
        return decode_json(await read_body(scope, receive, self._settings.max_body_bytes), kind)

    def _web_keys(self, conversation: str) -> Sequence[str]:
        """The session keys a web page's session id can have (one per agent; see session_keys)."""
        channel = self._settings.channel
        return [self._control.conversation_key(conversation, agent, channel) for agent in self._settings.agent_ids]

    async def _web_key(self, scope: Scope) -> str:
        conversation = scope["path"][len(CONVERSATIONS) + 1 :]
        checked_session_id(conversation, "conversation")
        for key in self._web_keys(conversation):
            if await self._control.transcript(key) is not None:
                return key
        raise _not_found(f"conversation '{conversation}'", "conversation")

    # -- chat page --------------------------------------------------------------

    async def _commands(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._auth(scope)
        await send_json(send, 200, {"commands": command_list()})

    async def _conversations(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._auth(scope)
        channel = self._settings.channel
        found = []
        for view in await self._control.sessions(channel=channel):
            # A page's session id has no colon, so it is the key's last part; the round trip
            # leaves out the channel's sessions that no page named (the main session, ...).
            conversation = view.key.rsplit(":", 1)[-1]
            if view.messages and self._control.conversation_key(conversation, view.agent_id, channel) == view.key:
                found.append({"id": conversation, "key": view.key, "title": view.title,
                              "updated_at": view.updated_at, "messages": view.messages})
        await send_json(send, 200, {"conversations": found})

    async def _conversation(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._auth(scope)
        key = await self._web_key(scope)
        lines = await self._control.transcript(key) or []
        title = next((v.title for v in await self._control.sessions(channel=self._settings.channel)
                      if v.key == key), "")
        messages = [
            {"role": line.role, "content": line.content, "created_at": line.created_at, "status": line.status}
            for line in lines if line.role in ("user", "assistant") and line.content
        ]
        await send_json(send, 200, {"id": key.rsplit(":", 1)[1], "key": key, "title": title,
                                    "messages": messages})

    async def _rename(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._auth(scope)
        body: TitleBody = await self._body(scope, receive, TitleBody)
        title = " ".join(body.title.split())
        if not title or len(title) > MAX_TITLE_CHARS:
            raise HttpError(400, f"title must be 1-{MAX_TITLE_CHARS} characters", code="invalid_value",
                            param="title")
        key = await self._web_key(scope)
        await self._control.rename(key, title)
        await send_json(send, 200, {"key": key, "title": title})

    async def _delete(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._auth(scope)
        key = await self._web_key(scope)
        await self._control.hide(key)
        await send_json(send, 200, {"key": key, "deleted": True})

    # -- control page -----------------------------------------------------------

    async def _sessions(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._auth(scope)
        views = await self._control.sessions(_query(scope).get("q", ""))
        await send_json(send, 200, {"sessions": views})

    async def _transcript(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._auth(scope)
        key = _required(_query(scope), "key")
        lines = await self._control.transcript(key)
        if lines is None:
            raise _not_found(f"session '{key}'", "key")
        await send_json(send, 200, {"key": key, "messages": lines})

    async def _export(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._auth(scope)
        key = _required(_query(scope), "key")
        lines = await self._control.transcript(key)
        if lines is None:
            raise _not_found(f"session '{key}'", "key")
        name = _FILENAME_UNSAFE.sub("_", key) + ".json"
        await send_bytes(send, 200, encode_json({"key": key, "messages": lines}), b"application/json",
                         [(b"content-disposition", f'attachment; filename="{name}"'.encode())])

    async def _reset(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._auth(scope)
        body: KeyBody = await self._body(scope, receive, KeyBody)
        if not await self._control.reset(body.key):
            raise _not_found(f"session '{body.key}'", "key")
        await send_json(send, 200, {"key": body.key, "reset": True})

    async def _channels(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._auth(scope)
        await send_json(send, 200, {"channels": await self._control.channels()})

    async def _pairing(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._auth(scope)
        await send_json(send, 200, {"requests": await self._control.pairing_requests()})

    async def _approve(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._decide(scope, receive, send, approve=True)

    async def _deny(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._decide(scope, receive, send, approve=False)

    async def _decide(self, scope: Scope, receive: Receive, send: Send, *, approve: bool) -> None:
        self._auth(scope)
        body: PairingBody = await self._body(scope, receive, PairingBody)
        decide = self._control.approve if approve else self._control.deny
        if not await decide(body.channel, body.code):
            raise _not_found(f"live pairing code '{body.code}' on {body.channel}", "code")
        await send_json(send, 200, {"channel": body.channel, "code": body.code,
                                    "approved" if approve else "denied": True})

    async def _agents(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._auth(scope)
        await send_json(send, 200, {"agents": self._control.agents()})

    async def _cron(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._auth(scope)
        await send_json(send, 200, {"jobs": self._control.cron_jobs()})

    async def _run_cron(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._auth(scope)
        body: JobBody = await self._body(scope, receive, JobBody)
        if not await self._control.run_cron(body.id):
            raise _not_found(f"cron job '{body.id}'", "id")
        await send_json(send, 200, {"jobs": self._control.cron_jobs()})

    async def _audit(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._auth(scope)
        await send_json(send, 200, {"records": await self._control.audit()})

    async def _usage(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._auth(scope)
        days = await self._control.usage()
        sessions = [{"key": v.key, "title": v.title, "input_tokens": v.input_tokens,
                     "output_tokens": v.output_tokens} for v in await self._control.sessions()]
        await send_json(send, 200, {"days": days, "sessions": sessions})

    async def _mcp(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._auth(scope)
        await send_json(send, 200, {"servers": self._control.mcp_servers()})

    async def _skills(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._auth(scope)
        await send_json(send, 200, await self._control.skills())

    async def _config(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._auth(scope)
        await send_bytes(send, 200, self._control.config().encode(), b"text/plain; charset=utf-8")
