"""What `/readyz` and `rustyclaw status` report: each channel's state and the model endpoint's.

A gateway that can serve HTTP answers 200 once started; the body carries the detail, so a stuck
channel or an unreachable model shows there without taking the web chat out of a load balancer.
Channel states: `connected`, `connecting` (starting, or its own loop reconnecting), `down` (with
the last error; the supervisor retries it), `disabled` (registered, not enabled), `standby`
(under `gateway.replicas`, a channel the leader runs and this replica does not). With replicas on,
`replicas` says whether this replica is the leader: `{"leader": true, "term": 3}`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from rustyclaw.app import Root

ChannelState = Literal["connected", "connecting", "down", "disabled", "standby"]
ModelState = Literal["reachable", "unreachable", "starting", "failed", "none"]

_SUPERVISOR_STATES: dict[str, ChannelState] = {
    "running": "connected", "starting": "connecting", "reconnecting": "connecting",
    "failed": "down", "stopped": "down", "standby": "standby",
}
# Probing the model server on every /readyz would make a load balancer's checks cost a request each.
PROBE_EVERY_SECONDS = 10.0


@dataclass
class ModelProbe:
    """The default route's provider: does `/models` answer? Network probes are cached for PROBE_EVERY_SECONDS."""

    checked_at: float = field(default=-1e9)
    last: dict[str, Any] = field(default_factory=dict)

    async def report(self, root: Root) -> dict[str, Any]:
        if root.models.embedded is not None:
            # In-process state, free to read: never served from the cache (a cached "starting" would
            # outlive the embedded server's start by up to PROBE_EVERY_SECONDS).
            return await self._probe(root)
        now = time.monotonic()
        if now - self.checked_at < PROBE_EVERY_SECONDS and self.last:
            return self.last
        self.last = await self._probe(root)
        self.checked_at = now
        return self.last

    async def _probe(self, root: Root) -> dict[str, Any]:
        from rustyclaw.adapters.llm.embedded_llama import probe

        models = root.models
        if models.embedded is not None:
            failure = models.embedded_failure()
            if failure is not None:
                return {"state": "failed", "provider": "local", "error": failure}
            if not models.embedded_ready():
                return {"state": "starting", "provider": "local"}
            return {"state": "reachable", "provider": "local", "url": models.embedded.base_url}
        cfg = root.settings.config.llm
        route = cfg.routes.get("default")
        if route is None:
            return {"state": "none"}
        provider = route.primary.partition("/")[0]
        found = cfg.providers.get(provider)
        if found is None:
            return {"state": "none", "provider": provider}
        ok = await probe(found.base_url, timeout=1.0)
        body: dict[str, Any] = {"state": "reachable" if ok else "unreachable", "provider": provider,
                                "url": found.base_url}
        if not ok:
            body["error"] = f"{found.base_url}/models did not answer 200"
        return body


def channel_report(root: Root) -> dict[str, dict[str, Any]]:
    from rustyclaw.channel_registry import default_registry

    registry = default_registry()
    found: dict[str, dict[str, Any]] = {}
    for name, section in root.settings.config.channels.sections().items():
        if registry.get(name) is not None and not section.enabled:
            found[name] = {"state": "disabled"}
    serving = root.serving
    if serving is not None and serving.supervisor is not None:
        for status in serving.channel_status():
            entry: dict[str, Any] = {"state": _SUPERVISOR_STATES.get(status.state, "down")}
            if status.last_error and entry["state"] != "connected":
                entry["error"] = status.last_error
            if status.restarts:
                entry["restarts"] = status.restarts
            found[status.name] = entry
    elif root.channels is not None:
        for channel in root.channels.channels:
            found[channel.name] = {"state": "connecting"}
    return found


class Health:
    """The readiness body of one running Root."""

    def __init__(self, root: Root) -> None:
        self._root = root
        self._model = ModelProbe()

    async def __call__(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "channels": channel_report(self._root),
            "model": await self._model.report(self._root),
            **({"mcp": self._root.mcp.status()} if self._root.mcp.manager is not None else {}),
        }
        serving = self._root.serving
        if serving is not None:  # counts only: /readyz is open to probes, peers and errors stay in the log
            body["delivery"] = await serving.delivery.report(details=False)
            if serving.leader is not None:
                body["replicas"] = serving.leader.report()
        # /readyz answers without a token (probes); an error text must not carry one (a bot token
        # in a failed request's URL, a DSN's password).
        clean: dict[str, Any] = _redacted(body, [s for s in self._root.settings.secrets if len(s) >= 4])
        return clean


def _redacted(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "***")
        return value
    if isinstance(value, dict):
        return {k: _redacted(v, secrets) for k, v in value.items()}
    return value
