# ruff: noqa: RUF001 - the turns are deliberately multilingual
"""Drive a real OpenClaw through scripted turns and keep the state folder it writes.

Called by make.sh (which installs Node 24 and OpenClaw). The turns cover what the importer must
carry: several agents and sessions, tool calls and results (one failing), Greek, Arabic, CJK,
Hangul, emoji and flags, a message over 10 KB, resets (`sessions.reset`, `/new` through the
gateway), a deleted session (2026.9.x keeps it as an archive row) and sessions made over the
HTTP endpoint (`x-openclaw-session-key`, and `user` + `model: openclaw/<agent>`).

After the run the folder is trimmed to what an importer reads (lock files, logs, caches and
the workspaces' .git are dropped) and packed as <out>.tar.xz. A `manifest.json` next to it
records what was sent, so a test can tell an omission from a message that was never there.

Usage: python drive.py --node N --openclaw OPENCLAW_MJS --version V --work DIR --out TARBALL
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TOKEN = "fixture-token-not-secret"

LONG = "\n".join(
    f"Line {i:03d}: Καλημέρα · مرحبا · 你好世界 · こんにちは · 안녕하세요 · 🦀🚀 🇬🇷🇯🇵🇸🇦 — "
    'tab\there "quoted" back\\slash'
    for i in range(120)
)  # about 11 KB of UTF-8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Driver:
    def __init__(self, node: str, openclaw: str, work: Path, version: str) -> None:
        self.node, self.openclaw, self.work, self.version = node, openclaw, work, version
        self.state = work / "state"
        self.home = work / "home"
        self.model_port = free_port()
        self.gateway_port = free_port()
        self.sent: list[dict[str, Any]] = []
        self.env = dict(os.environ)
        self.env.update(
            HOME=str(self.home),
            OPENCLAW_STATE_DIR=str(self.state),
            OPENCLAW_CONFIG_PATH=str(self.state / "openclaw.json"),
            NO_COLOR="1",
            TZ="UTC",
        )
        self.procs: list[subprocess.Popen[bytes]] = []

    # -- processes --------------------------------------------------------------------------------
    def start_model(self) -> None:
        log = self.work / "model-requests.jsonl"
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "mock_model.py"), "--port", str(self.model_port), "--log", str(log)]
        )
        self.procs.append(proc)
        self.wait_http(f"http://127.0.0.1:{self.model_port}/v1/models", 30)

    def wait_http(self, url: str, seconds: float, headers: dict[str, str] | None = None) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                if isinstance(exc, urllib.error.HTTPError) and exc.code < 500:
                    return
                if time.monotonic() > deadline:
                    raise SystemExit(f"{url} did not answer within {seconds} s") from exc
                time.sleep(0.5)

    def openclaw_cli(self, *args: str, timeout: float = 300, check: bool = True) -> str:
        cmd = [self.node, self.openclaw, *args]
        print("  $ openclaw", " ".join(a if len(a) < 80 else a[:77] + "..." for a in args), flush=True)
        done = subprocess.run(cmd, env=self.env, capture_output=True, timeout=timeout, cwd=self.work)
        out = done.stdout.decode(errors="replace")
        if check and done.returncode != 0:
            sys.stderr.write(out + done.stderr.decode(errors="replace")[-4000:])
            raise SystemExit(f"openclaw {args[0]} exited {done.returncode}")
        return out

    def start_gateway(self) -> None:
        log = open(self.work / "gateway.log", "wb")  # noqa: SIM115 - lives as long as the process
        proc = subprocess.Popen(
            [self.node, self.openclaw, "gateway", "run", "--port", str(self.gateway_port)],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.work,
        )  # fmt: skip
        self.procs.append(proc)
        self.wait_http(f"http://127.0.0.1:{self.gateway_port}/healthz", 180)

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                self.stop(proc)
        self.procs.clear()

    # -- config -------------------------------------------------------------------------------------
    def write_config(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        ws_main = self.state / "workspace" / "main"
        ws_ops = self.state / "workspace-ops"
        text = f"""// Written by scripts/openclaw-fixtures/drive.py for OpenClaw {self.version} (JSON5).
{{
  update: {{ checkOnStart: false }},
  models: {{
    providers: {{
      mock: {{
        baseUrl: "http://127.0.0.1:{self.model_port}/v1",
        apiKey: "${{MOCK_MODEL_KEY}}",
        api: "openai-completions",
        models: [{{ id: "mock-1", name: "Mock", input: ["text"], contextWindow: 65536, maxTokens: 2048 }}],
      }},
    }},
  }},
  agents: {{
    defaults: {{ model: {{ primary: "mock/mock-1" }}, workspace: "{ws_main}" }},
    list: [
      {{ id: "main", default: true }},
      {{ id: "ops", workspace: "{ws_ops}" }},
    ],
  }},
  session: {{
    dmScope: "per-channel-peer",
    reset: {{ mode: "daily", atHour: 4 }},
    resetByType: {{ group: {{ mode: "idle", idleMinutes: 120 }} }},
  }},
  tools: {{ profile: "coding" }},
  gateway: {{
    mode: "local",
    port: {self.gateway_port},
    auth: {{ mode: "token", token: "{TOKEN}" }},
    http: {{ endpoints: {{ chatCompletions: {{ enabled: true }} }} }},
  }},
}}
"""
        (self.state / "openclaw.json").write_text(text, encoding="utf-8")
        self.env["MOCK_MODEL_KEY"] = "mock-key"

    # -- turns ----------------------------------------------------------------------------------------
    def local_turn(self, key: str, message: str, agent: str | None = None) -> None:
        self.sent.append({"via": "cli-local", "key": key, "text": message})
        args = ["agent", "--local", "--session-key", key]
        if agent:
            args += ["--agent", agent]
        if len(message) > 2000:
            path = self.work / "message.txt"
            path.write_text(message, encoding="utf-8")
            args += ["--message-file", str(path)]
        else:
            args += ["--message", message]
        self.openclaw_cli(*args)

    def gateway_turn(self, key: str, message: str) -> None:
        self.sent.append({"via": "cli-gateway", "key": key, "text": message})
        # Through the gateway: the CLI takes the token from gateway.auth.token in the config.
        self.openclaw_cli("agent", "--session-key", key, "--message", message)

    def http_turn(
        self, message: str, *, key: str | None = None, model: str = "openclaw/main", user: str | None = None
    ) -> str:
        self.sent.append({"via": "http", "key": key, "user": user, "model": model, "text": message})
        body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": message}]}
        if user:
            body["user"] = user
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        if key:
            headers["x-openclaw-session-key"] = key
        print(f"  POST /v1/chat/completions key={key} user={user} model={model}", flush=True)
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.gateway_port}/v1/chat/completions",
            data=json.dumps(body).encode(), headers=headers, method="POST",
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=300) as response:
            reply = json.loads(response.read())
        return str(reply["choices"][0]["message"]["content"])

    def call(self, method: str, params: dict[str, Any]) -> str:
        self.sent.append({"via": "gateway-call", "method": method, "params": params})
        return self.openclaw_cli(
            "gateway", "call", method, "--params", json.dumps(params), "--token", TOKEN, "--json", "--timeout", "60000"
        )

    # -- the script -------------------------------------------------------------------------------------
    def run(self) -> None:
        self.write_config()
        self.start_model()
        try:
            print(f"OpenClaw {self.version}: CLI turns (embedded)", flush=True)
            self.local_turn("agent:main:cli-alpha", "Γειά σου κόσμε! Τι κάνεις;")
            self.local_turn("agent:main:cli-alpha", "مرحبا بالعالم — 你好，世界 — 안녕하세요 — 🦀🚀 🇬🇷🇸🇦🇯🇵🏳️‍🌈")
            self.local_turn("agent:main:cli-alpha", LONG)
            self.local_turn("agent:main:cli-alpha", 'Read the rules: [[tool:read {"path": "AGENTS.md"}]]')
            self.local_turn("agent:main:cli-proj", "Project kickoff: list three risks.")
            self.local_turn("agent:main:cli-proj", "/new")  # --local sends it to the model as text
            self.local_turn("agent:ops:cli-ops", 'Disk check: [[tool:exec {"command": "echo disk-ok ✓"}]]', agent="ops")
            self.local_turn("agent:ops:cli-ops", "Резюме: всё хорошо? 中文 Ελληνικά عربى", agent="ops")
            print(f"OpenClaw {self.version}: gateway turns", flush=True)
            self.start_gateway()
            self.gateway_turn("agent:main:cli-proj", "/new")  # a real reset through the gateway
            self.gateway_turn("agent:main:cli-proj", "After the reset: fresh start 🌱")
            self.http_turn('Tabs\tquotes "x" back\\slash — 한국어 カタカナ 🇰🇷🇯🇵', key="agent:main:http-beta")
            self.http_turn('Run it: [[tool:exec {"command": "printf \'%s\' hello"}]]', key="agent:main:http-beta")
            self.http_turn("Before reset, first", key="agent:main:http-reset")
            self.http_turn("Before reset, second ✨", key="agent:main:http-reset")
            self.call("sessions.reset", {"key": "agent:main:http-reset"})
            self.http_turn("After reset, only this one counts", key="agent:main:http-reset")
            self.http_turn("Hello from gamma 👋", model="openclaw/ops", user="gamma-user")
            self.http_turn("Second from gamma: Ωμέγα", model="openclaw/ops", user="gamma-user")
            self.http_turn("Doomed session", key="agent:main:http-trash")
            self.http_turn('Missing file: [[tool:read {"path": "no-such-file.md"}]]', key="agent:main:http-trash")
            self.call("sessions.delete", {"key": "agent:main:http-trash"})
            with contextlib.suppress(SystemExit):  # cron is optional for the fixture
                self.openclaw_cli(
                    "cron", "add", "--name", "daily-digest", "--cron", "0 7 * * *", "--session", "isolated",
                    "--message", "Summarise yesterday", "--token", TOKEN, check=True,
                )  # fmt: skip
                self.sent.append({"via": "cron-add", "name": "daily-digest"})
            self.history = self.call("chat.history", {"sessionKey": "agent:main:cli-proj"})
        finally:
            self.stop_all()


KEEP_SUFFIXES = (".sqlite", ".json", ".jsonl", ".md", ".zst")


def trim(state: Path) -> None:
    """Drop what no importer reads (locks, logs, caches, .git, temp memory indexes)."""
    for path in sorted(state.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        rel = path.relative_to(state).as_posix()
        if path.is_dir():
            if path.name in (".git", "tmp", "logs", "plugin-skills", "cache", "node_modules"):
                shutil.rmtree(path, ignore_errors=True)
            continue
        if ".memory-reindex-" in path.name or path.name.endswith(("-lock.sqlite", "-writer.sqlite", ".lock")):
            path.unlink()
        elif path.name.endswith(("-shm", "-wal")):
            path.unlink()  # the DBs were checkpointed when OpenClaw closed them (checked below)
        elif not (path.name.endswith(KEEP_SUFFIXES) or ".jsonl." in path.name or rel.endswith(".json5")):
            path.unlink()


def relocate(state: Path) -> None:
    """Write the state folder's own path in openclaw.json as `~/.openclaw`, OpenClaw's default
    home, so the fixture reads like a default installation wherever it is unpacked."""
    config = state / "openclaw.json"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace(str(state.resolve()), "~/.openclaw"), encoding="utf-8")


def pack(state: Path, out: Path) -> None:
    relocate(state)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w:xz", preset=9) as tar:
        tar.add(state, arcname="openclaw-state", filter=_reset_owner)
    print(f"wrote {out} ({out.stat().st_size} bytes)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--node", required=True)
    parser.add_argument("--openclaw", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--work", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--repack", action="store_true", help="only pack the state of an earlier run again")
    args = parser.parse_args()
    if args.repack:
        pack(args.work / "state", args.out)
        return
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    driver = Driver(args.node, args.openclaw, args.work, args.version)
    driver.run()
    for wal in driver.state.rglob("*.sqlite-wal"):
        if wal.stat().st_size:
            import sqlite3

            db = sqlite3.connect(str(wal)[: -len("-wal")])
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db.close()
    trim(driver.state)
    manifest = {"openclaw": args.version, "sent": driver.sent}
    (driver.state / "fixture-manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
    pack(driver.state, args.out)


def _reset_owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


if __name__ == "__main__":
    main()
