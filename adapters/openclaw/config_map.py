"""OpenClaw's `openclaw.json` -> RustyClaw's config.yaml data, secrets apart, nothing dropped silently.

Every key of the OpenClaw file ends in exactly one of three places:
- mapped: written to the RustyClaw config under its RustyClaw name (table in docs/openclaw.md);
- a secret: written to secrets.env under a variable name, the config holding only `${NAME}`;
- reported: listed with the reason it has no RustyClaw equivalent (or not yet).

After the known keys are mapped, the whole OpenClaw tree is walked and every leaf that no rule
took is reported too, so a key added to OpenClaw later still shows up in the report.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rustyclaw.adapters.openclaw.config_file import OpenClawConfigFile

Path_ = tuple[str, ...]

# Where the migrated agents' workspaces go, relative to the RustyClaw home (`~/.rustyclaw`).
WORKSPACE_DIR = "workspace"

_SECRET_NAME = re.compile(r"[^A-Z0-9_]+")


@dataclass(frozen=True, slots=True)
class Unmapped:
    """One OpenClaw key (or item) the migration does not carry, and why."""

    path: str
    reason: str


@dataclass(slots=True)
class MappedConfig:
    data: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)  # NAME -> value, for secrets.env
    unmapped: list[Unmapped] = field(default_factory=list)
    # Variables the config refers to that must be set by the user (unresolved in OpenClaw too).
    needs_variables: list[str] = field(default_factory=list)
    # agent id -> OpenClaw workspace folder (as written in openclaw.json, `~` not expanded).
    workspaces: dict[str, str] = field(default_factory=dict)
    default_agent: str = "main"


def _dotted(path: Path_) -> str:
    return ".".join(path)


class _Mapper:
    def __init__(self, source: OpenClawConfigFile) -> None:
        self.src = source.data
        self.from_variables = source.from_variables
        self.out = MappedConfig()
        self.taken: set[Path_] = set()

    # -- reading the OpenClaw tree -------------------------------------------------------------------
    def get(self, *path: str) -> Any:
        node: Any = self.src
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return node

    def take(self, *path: str) -> Any:
        value = self.get(*path)
        if value is not None:
            self.taken.add(path)
        return value

    def report(self, path: Path_, reason: str) -> None:
        if self.get(*path) is not None:
            self.taken.add(path)
            self.out.unmapped.append(Unmapped(_dotted(path), reason))

    # -- writing the RustyClaw tree ------------------------------------------------------------------
    def put(self, value: Any, *path: str) -> None:
        node = self.out.data
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value

    def secret(self, value: Any, name: str, where: Path_) -> str | None:
        """`${NAME}` for a secret value, the value itself going to secrets.env."""
        if isinstance(value, dict) and value.get("source") == "env" and isinstance(value.get("id"), str):
            ref_name = str(value["id"])
            if ref_name not in self.out.needs_variables:
                self.out.needs_variables.append(ref_name)
            return "${" + ref_name + "}"  # an env SecretRef: the variable stays where it is
        if isinstance(value, dict):
            self.out.unmapped.append(
                Unmapped(_dotted(where), f"secret reference from source {value.get('source')!r}: set it by hand")
            )
            return None
        if not isinstance(value, str) or not value:
            return None
        unresolved = re.fullmatch(r"\$\{([A-Z_][A-Z0-9_]*)\}", value)
        if unresolved:
            if unresolved.group(1) not in self.out.needs_variables:
                self.out.needs_variables.append(unresolved.group(1))
            return value
        variables = self.from_variables.get(value)
        if variables and len(variables) == 1 and value == value.strip():
            name = variables[0]
        name = _SECRET_NAME.sub("_", name.upper()).strip("_")
        self.out.secrets[name] = value
        return "${" + name + "}"

    # -- sections ------------------------------------------------------------------------------------
    def gateway(self) -> None:
        port = self.take("gateway", "port")
        if isinstance(port, int):
            self.put(port, "gateway", "port")
        bind = self.take("gateway", "bind")
        if bind is not None:
            hosts = {"loopback": "127.0.0.1", "lan": "0.0.0.0", "auto": "127.0.0.1"}
            if bind in hosts:
                self.put(hosts[bind], "gateway", "host")
            elif bind == "custom" and isinstance(self.take("gateway", "customBindHost"), str):
                self.put(self.get("gateway", "customBindHost"), "gateway", "host")
            else:
                self.report(("gateway", "bind"), f"bind mode {bind!r} has no equivalent; gateway.host stays 127.0.0.1")
        mode = self.take("gateway", "auth", "mode")
        token = self.take("gateway", "auth", "token")
        if mode not in (None, "token"):
            self.report(("gateway", "auth", "mode"), f"auth mode {mode!r}: RustyClaw has bearer-token auth only")
        if token is not None:
            if isinstance(token, str) and len(token) < 24 and not token.startswith("${"):
                self.out.unmapped.append(
                    Unmapped("gateway.auth.token", "shorter than 24 characters, which RustyClaw refuses: set a new one")
                )
            else:
                ref = self.secret(token, "RUSTYCLAW_GATEWAY_TOKEN", ("gateway", "auth", "token"))
                if ref:
                    self.put(ref, "gateway", "auth", "token")
        enabled = self.take("gateway", "http", "endpoints", "chatCompletions", "enabled")
        # OpenClaw's endpoint is off unless enabled; RustyClaw's is on by default: write it always.
        self.put(bool(enabled), "gateway", "openaiEndpoint", "enabled")
        self.report(("gateway", "mode"), "RustyClaw runs one local gateway (no remote/local mode)")

    def models(self) -> None:
        providers = self.take("models", "providers")
        if isinstance(providers, dict):
            for name, spec in providers.items():
                where = ("models", "providers", name)
                if not isinstance(spec, dict):
                    continue
                api = spec.get("api", "openai-completions")
                if api != "openai-completions":
                    self.report(where, f"api {api!r}: RustyClaw speaks the OpenAI chat-completions API only")
                    continue
                out: dict[str, Any] = {}
                if isinstance(spec.get("baseUrl"), str):
                    out["baseUrl"] = spec["baseUrl"]
                if spec.get("apiKey") is not None:
                    ref = self.secret(spec["apiKey"], f"{name}_API_KEY", (*where, "apiKey"))
                    if ref:
                        out["apiKey"] = ref
                headers = spec.get("headers")
                if isinstance(headers, dict):
                    out["headers"] = {
                        h: self.secret(v, f"{name}_HEADER_{h}", (*where, "headers", h)) or ""
                        for h, v in headers.items()
                    }
                self.put(out, "llm", "providers", name)
                models = spec.get("models")
                if isinstance(models, list):
                    windows = [m.get("contextWindow") for m in models if isinstance(m, dict)]
                    sizes = [w for w in windows if isinstance(w, int)]
                    if sizes and len(sizes) == len(windows):
                        self.put(min(sizes), "llm", "contextTokens")
                    self.out.unmapped.append(
                        Unmapped(
                            _dotted((*where, "models")),
                            "RustyClaw keeps no model catalogue; the smallest contextWindow became llm.contextTokens",
                        )
                    )
                for key in spec:
                    if key not in ("api", "baseUrl", "apiKey", "headers", "models"):
                        self.out.unmapped.append(Unmapped(_dotted((*where, key)), "no equivalent in llm.providers"))
        self.report(("models", "mode"), "RustyClaw has no provider catalogue to merge with")
        model = self.take("agents", "defaults", "model")
        primary = model if isinstance(model, str) else (model or {}).get("primary") if isinstance(model, dict) else None
        if isinstance(primary, str):
            self.put({"primary": primary, "fallbacks": list((model or {}).get("fallbacks") or [])
                      if isinstance(model, dict) else []}, "llm", "routes", "default")  # fmt: skip

    def agents(self) -> None:
        defaults_ws = self.take("agents", "defaults", "workspace")
        for key, target in (
            ("bootstrapMaxChars", "bootstrapMaxChars"),
            ("bootstrapTotalMaxChars", "bootstrapTotalMaxChars"),
        ):
            value = self.take("agents", "defaults", key)
            if isinstance(value, int):
                self.put(value, "agents", target)
        items = self.take("agents", "list")
        agents = (
            [a for a in items if isinstance(a, dict) and isinstance(a.get("id"), str)]
            if isinstance(items, list)
            else []
        )
        default = next((a["id"] for a in agents if a.get("default")), agents[0]["id"] if agents else "main")
        self.out.default_agent = default
        self.put(default, "agents", "defaultAgent")
        self.put("~/.rustyclaw/" + WORKSPACE_DIR, "agents", "workspace")
        self.out.workspaces[default] = str(defaults_ws or "~/.openclaw/workspace")
        listed: list[dict[str, Any]] = []
        for index, agent in enumerate(agents):
            agent_id = agent["id"]
            out: dict[str, Any] = {"id": agent_id}
            if agent_id != default:
                # RustyClaw's layout: other agents' workspaces are <agents.workspace>/<agentId>.
                self.out.workspaces[agent_id] = str(agent.get("workspace") or f"~/.openclaw/workspace-{agent_id}")
            elif isinstance(agent.get("workspace"), str):
                self.out.workspaces[agent_id] = agent["workspace"]
            model = agent.get("model")
            if isinstance(model, str):
                out["model"] = model
            elif isinstance(model, dict) and isinstance(model.get("primary"), str):
                out["model"] = model["primary"]
                fallbacks = [f for f in model.get("fallbacks") or () if isinstance(f, str)]
                if fallbacks:
                    # The agent's own default route keeps its fallbacks (agents.list[].routes).
                    out["routes"] = {"default": {"primary": model["primary"], "fallbacks": fallbacks}}
            own_sandbox = agent.get("sandbox")
            if isinstance(own_sandbox, dict):
                out["sandbox"] = self.agent_sandbox(own_sandbox, index)
            tools = agent.get("tools")
            if isinstance(tools, dict):
                policy = {k: tools[k] for k in ("allow", "deny") if isinstance(tools.get(k), list)}
                if policy:
                    out["tools"] = policy
                for key in tools:
                    if key not in ("allow", "deny"):
                        self.out.unmapped.append(
                            Unmapped(f"agents.list.{index}.tools.{key}", "per-agent tools take allow/deny only here")
                        )
            for key in agent:
                if key not in ("id", "default", "workspace", "model", "tools", "sandbox"):
                    self.out.unmapped.append(Unmapped(f"agents.list.{index}.{key}", "no per-agent equivalent"))
            listed.append(out)
        self.taken.add(("agents", "list"))
        if listed:
            self.put(listed, "agents", "list")
        sandbox = self.take("agents", "defaults", "sandbox")
        if isinstance(sandbox, dict):
            self.sandbox(sandbox)

    def agent_sandbox(self, spec: dict[str, Any], index: int) -> dict[str, Any]:
        """agents.list[].sandbox: the keys an agent may set here (mode, scope, workspaceAccess,
        docker.image, docker.network); any other is reported, not carried."""
        out: dict[str, Any] = {key: spec[key] for key in ("mode", "scope", "workspaceAccess")
                               if isinstance(spec.get(key), str)}
        docker = spec.get("docker")
        if isinstance(docker, dict):
            own = {key: docker[key] for key in ("image", "network") if isinstance(docker.get(key), str)}
            if own:
                out["docker"] = own
            for key in docker:
                if key not in own:
                    self.out.unmapped.append(Unmapped(f"agents.list.{index}.sandbox.docker.{key}",
                                                      "an agent's own container takes image and network only"))
        for key in spec:
            if key not in ("mode", "scope", "workspaceAccess", "docker"):
                self.out.unmapped.append(Unmapped(f"agents.list.{index}.sandbox.{key}", "no per-agent equivalent"))
        return out

    def sandbox(self, spec: dict[str, Any]) -> None:
        where = ("agents", "defaults", "sandbox")
        for key in ("mode", "scope", "workspaceAccess"):
            if isinstance(spec.get(key), str):
                self.put(spec[key], "sandbox", key)
        docker = spec.get("docker")
        if isinstance(docker, dict):
            known = ("image", "network", "readOnlyRoot", "tmpfs", "user", "capDrop", "pidsLimit", "memory",
                     "memorySwap", "cpus", "setupCommand")  # fmt: skip
            for key, value in docker.items():
                if key in known:
                    self.put(value, "sandbox", "docker", key)
                elif key == "env" and isinstance(value, dict):
                    self.put({k: self.secret(v, f"SANDBOX_{k}", (*where, "docker", "env", k)) or ""
                              for k, v in value.items()}, "sandbox", "docker", "env")  # fmt: skip
                else:
                    self.out.unmapped.append(
                        Unmapped(_dotted((*where, "docker", key)), "no equivalent in sandbox.docker")
                    )
        backend = spec.get("backend", "docker")
        if backend not in ("docker", "podman"):
            self.out.unmapped.append(
                Unmapped(_dotted((*where, "backend")), f"backend {backend!r}: only Docker-API engines")
            )
        for key in spec:
            if key not in ("mode", "scope", "workspaceAccess", "docker", "backend"):
                self.out.unmapped.append(Unmapped(_dotted((*where, key)), "no equivalent in sandbox"))

    def session(self) -> None:
        for key in ("scope", "dmScope", "mainKey", "resetTriggers"):
            value = self.take("session", key)
            if value is not None:
                self.put(value, "sessions", key)
        reset = self.take("session", "reset")
        if isinstance(reset, dict):
            self.put(self._reset(reset, ("session", "reset")), "sessions", "reset")
        by_type = self.take("session", "resetByType")
        if isinstance(by_type, dict):
            # OpenClaw accepts `dm` as the older spelling of `direct`.
            mapped = {("direct" if k == "dm" else k): self._reset(v, ("session", "resetByType", k))
                      for k, v in by_type.items() if isinstance(v, dict)}  # fmt: skip
            self.put(mapped, "sessions", "resetByType")
        by_channel = self.take("session", "resetByChannel")
        if isinstance(by_channel, dict):
            self.put({k: self._reset(v, ("session", "resetByChannel", k)) for k, v in by_channel.items()
                      if isinstance(v, dict)}, "sessions", "resetByChannel")  # fmt: skip

    def _reset(self, spec: dict[str, Any], where: Path_) -> dict[str, Any]:
        out: dict[str, Any] = {k: spec[k] for k in ("mode", "atHour", "idleMinutes") if k in spec}
        for key in spec:
            if key not in out:
                self.out.unmapped.append(Unmapped(_dotted((*where, key)), "no equivalent in sessions.reset"))
        return out

    def tools(self) -> None:
        for key in ("profile", "allow", "deny"):
            value = self.take("tools", key)
            if value is not None:
                self.put(value, "tools", key)
        by_provider = self.take("tools", "byProvider")
        if isinstance(by_provider, dict):
            self.put({k: {p: v[p] for p in ("allow", "deny") if p in v} for k, v in by_provider.items()
                      if isinstance(v, dict)}, "tools", "byProvider")  # fmt: skip
        elevated = self.take("tools", "elevated")
        if isinstance(elevated, dict):
            out = {k: elevated[k] for k in ("enabled", "allowFrom") if k in elevated}
            self.put(out, "tools", "elevated")

    def channels(self) -> None:
        for name, secret_key, env_name in (
            ("telegram", "botToken", "TELEGRAM_BOT_TOKEN"),
            ("discord", "token", "DISCORD_BOT_TOKEN"),
        ):
            spec = self.take("channels", name)
            if not isinstance(spec, dict):
                continue
            where = ("channels", name)
            out: dict[str, Any] = {"enabled": bool(spec.get("enabled", True))}
            for key in ("dmPolicy", "allowFrom", "groupPolicy", "groupAllowFrom"):
                if key in spec:
                    out[key] = [str(v) for v in spec[key]] if isinstance(spec[key], list) else spec[key]
            if spec.get(secret_key) is not None:
                ref = self.secret(spec[secret_key], env_name, (*where, secret_key))
                if ref:
                    out[secret_key] = ref
            groups = spec.get("groups")
            if isinstance(groups, dict):
                out["groups"] = {}
                for gid, g in groups.items():
                    if isinstance(g, dict):
                        out["groups"][str(gid)] = {k: g[k] for k in ("requireMention",) if k in g}
                        for key in g:
                            if key != "requireMention":
                                self.out.unmapped.append(
                                    Unmapped(
                                        _dotted((*where, "groups", str(gid), key)), "per-group: requireMention only"
                                    )
                                )
            for key in spec:
                if key not in (
                    "enabled",
                    "dmPolicy",
                    "allowFrom",
                    "groupPolicy",
                    "groupAllowFrom",
                    secret_key,
                    "groups",
                ):
                    self.out.unmapped.append(Unmapped(_dotted((*where, key)), f"no equivalent in channels.{name}"))
            self.put(out, "channels", name)
        self.report(
            ("channels", "whatsapp"),
            "OpenClaw's WhatsApp is a linked WhatsApp Web device; RustyClaw uses the WhatsApp Cloud API "
            "(accessToken, appSecret, verifyToken, phoneNumberId): set channels.whatsapp up anew",
        )
        others = self.get("channels")
        if isinstance(others, dict):
            for name in others:
                if name not in ("telegram", "discord", "whatsapp", "defaults"):
                    self.report(("channels", name), f"channel {name!r} is not supported by RustyClaw")

    def mcp(self, has_section: bool) -> None:
        servers = self.take("mcp", "servers")
        if not isinstance(servers, dict):
            return
        if not has_section:
            for name in servers:
                self.out.unmapped.append(
                    Unmapped(f"mcp.servers.{name}", "no equivalent yet (RustyClaw has no mcp section)")
                )
            return
        known = ("enabled", "transport", "command", "args", "cwd", "url", "requestTimeoutMs", "connectionTimeoutMs")
        out: dict[str, Any] = {}
        for name, spec in servers.items():
            if not isinstance(spec, dict):
                continue
            server = {k: spec[k] for k in known if k in spec}
            for group in ("env", "headers"):
                values = spec.get(group)
                if isinstance(values, dict):
                    server[group] = {k: self.secret(v, f"MCP_{name}_{k}", ("mcp", "servers", name, group, k)) or ""
                                     for k, v in values.items()}  # fmt: skip
            for key in spec:
                if key not in (*known, "env", "headers"):
                    self.out.unmapped.append(Unmapped(f"mcp.servers.{name}.{key}", "no equivalent in mcp.servers"))
            out[name] = server
        self.put(out, "mcp", "servers")

    def skills(self, has_section: bool) -> None:
        skills = self.take("skills")
        if not isinstance(skills, dict):
            return
        if not has_section:
            self.out.unmapped.append(Unmapped("skills", "no equivalent yet (RustyClaw has no skills section)"))
            return
        extra = skills.get("load", {}).get("extraDirs") if isinstance(skills.get("load"), dict) else None
        if isinstance(extra, list):
            self.put(extra, "skills", "load", "extraDirs")
        entries = skills.get("entries")
        if isinstance(entries, dict):
            out: dict[str, Any] = {}
            for name, spec in entries.items():
                if not isinstance(spec, dict):
                    continue
                entry: dict[str, Any] = {}
                if "enabled" in spec:
                    entry["enabled"] = bool(spec["enabled"])
                env = dict(spec.get("env") or {}) if isinstance(spec.get("env"), dict) else {}
                if spec.get("apiKey") is not None:
                    self.out.unmapped.append(
                        Unmapped(
                            f"skills.entries.{name}.apiKey", "carried as env.API_KEY (RustyClaw skills take env only)"
                        )
                    )
                    env.setdefault("API_KEY", spec["apiKey"])
                if env:
                    entry["env"] = {k: self.secret(v, f"SKILL_{name}_{k}", ("skills", "entries", name, "env", k)) or ""
                                    for k, v in env.items()}  # fmt: skip
                for key in spec:
                    if key not in ("enabled", "env", "apiKey"):
                        self.out.unmapped.append(
                            Unmapped(f"skills.entries.{name}.{key}", "no equivalent in skills.entries")
                        )
                out[name] = entry
            self.put(out, "skills", "entries")
        for key in skills:
            if key not in ("load", "entries"):
                self.out.unmapped.append(Unmapped(f"skills.{key}", "no equivalent in skills"))
        load = skills.get("load")
        if isinstance(load, dict):
            for key in load:
                if key != "extraDirs":
                    self.out.unmapped.append(Unmapped(f"skills.load.{key}", "no equivalent in skills.load"))

    def bindings(self) -> None:
        """OpenClaw's `bindings` as they are (the same form); parts RustyClaw does not match on are reported."""
        items = self.take("bindings")
        if not isinstance(items, list):
            return
        known = {str(a.get("id")) for a in self.out.data.get("agents", {}).get("list", [])}
        known.add(self.out.default_agent)
        carried: list[dict[str, Any]] = []
        for index, binding in enumerate(items):
            where = f"bindings.{index}"
            match = binding.get("match") if isinstance(binding, dict) else None
            agent_id = binding.get("agentId") if isinstance(binding, dict) else None
            valid = isinstance(match, dict) and isinstance(match.get("channel"), str)
            if not valid or not isinstance(agent_id, str) or not isinstance(match, dict):
                self.out.unmapped.append(Unmapped(where, "not a binding with agentId and match.channel"))
                continue
            if agent_id not in known:
                self.out.unmapped.append(Unmapped(where, f"agent {agent_id!r} is not in agents.list"))
                continue
            out: dict[str, Any] = {"channel": match["channel"]}
            for key in ("accountId", "guildId", "teamId"):
                if isinstance(match.get(key), str | int):
                    out[key] = str(match[key])
            peer = match.get("peer")
            if isinstance(peer, dict) and isinstance(peer.get("kind"), str) and peer.get("id") is not None:
                out["peer"] = {"kind": peer["kind"], "id": str(peer["id"])}
            for key in match:
                if key not in ("channel", "accountId", "guildId", "teamId", "peer"):
                    # e.g. Discord `roles` or a thread's `parentPeer`: leaving it out would widen the
                    # binding, so the whole binding stays behind and is reported.
                    self.out.unmapped.append(Unmapped(f"{where}.match.{key}", "not matched on here; binding left out"))
            if any(key not in ("channel", "accountId", "guildId", "teamId", "peer") for key in match):
                continue
            for key in binding:
                if key not in ("agentId", "match"):
                    self.out.unmapped.append(Unmapped(f"{where}.{key}", "no equivalent in bindings"))
            carried.append({"agentId": agent_id, "match": out})
        if carried:
            self.put(carried, "bindings")

    def env(self) -> None:
        variables = self.take("env", "vars")
        if isinstance(variables, dict):
            for name, value in variables.items():
                if isinstance(value, str):
                    self.out.secrets[name] = value
        self.report(("env", "shellEnv"), "RustyClaw does not import a login shell's environment")

    def housekeeping(self) -> None:
        for key, reason in (
            ("update", "OpenClaw's self-update settings"),
            ("meta", "OpenClaw's own bookkeeping"),
            ("wizard", "OpenClaw's onboarding state"),
        ):
            self.report((key,), reason)

    # -- the rest ------------------------------------------------------------------------------------
    def leftovers(self) -> None:
        reported = {u.path for u in self.out.unmapped}
        for path in _leaves(self.src, ()):
            if any(path[: len(t)] == t for t in self.taken):
                continue
            dotted = _dotted(path)
            if dotted not in reported:
                self.out.unmapped.append(Unmapped(dotted, "no RustyClaw equivalent"))


def _leaves(node: Any, path: Path_) -> Iterator[Path_]:
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from _leaves(value, (*path, str(key)))
    elif path:
        yield path


def map_config(source: OpenClawConfigFile, sections: frozenset[str]) -> MappedConfig:
    """The RustyClaw config for `source`; `sections` are the RustyClaw config's top-level keys
    (mcp and skills are mapped only once RustyClaw has those sections)."""
    mapper = _Mapper(source)
    steps: list[Callable[[], None]] = [
        mapper.gateway, mapper.models, mapper.agents, mapper.session, mapper.tools, mapper.channels,
        lambda: mapper.mcp("mcp" in sections), lambda: mapper.skills("skills" in sections), mapper.bindings,
        mapper.env,
        mapper.housekeeping,
    ]  # fmt: skip
    for step in steps:
        step()
    mapper.leftovers()
    return mapper.out
