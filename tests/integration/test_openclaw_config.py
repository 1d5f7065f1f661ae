"""OpenClaw's config files: `.json5` accepted by `config validate`, OpenClaw spellings named, and an
`openclaw.json` (JSON5, `$include`, `${VAR}`) migrated to a RustyClaw config that validates and
keeps dmScope, allowFrom, the tool profile and the resets. The openclaw.json here is written from
OpenClaw's documentation snippets (gateway/configuration*.md), not produced by OpenClaw.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from rustyclaw.adapters.openclaw.config_file import load_openclaw_config
from rustyclaw.adapters.openclaw.migrate import describe, plan_migration, run_migration
from rustyclaw.cli import main
from rustyclaw.config.loader import load_config
from rustyclaw.domain.errors import ConfigError

OPENCLAW_JSON = """// ~/.openclaw/openclaw.json (JSON5: comments, unquoted keys, trailing commas)
{
  gateway: { port: 18789, bind: "loopback", auth: { mode: "token", token: "${OPENCLAW_GATEWAY_TOKEN}" },
    http: { endpoints: { chatCompletions: { enabled: true } } } },
  agents: { $include: "./agents.json5" },
  session: {
    dmScope: "per-channel-peer",
    reset: { mode: "daily", atHour: 4, idleMinutes: 120 },
    resetByType: { dm: { mode: "idle", idleMinutes: 240 }, group: { mode: "idle", idleMinutes: 120 } },
    resetTriggers: ["/new", "/reset"],
  },
  tools: { profile: "coding", deny: ["browser"] },
  channels: {
    telegram: {
      enabled: true,
      botToken: "123456:ABC-telegram-secret",
      dmPolicy: "allowlist",
      allowFrom: ["tg:123456789", "telegram:42"],
      groups: { "*": { requireMention: true } },
      historyLimit: 50,
    },
  },
  env: { vars: { OPENROUTER_API_KEY: "sk-or-from-env-vars" } },
  models: { providers: { local: { baseUrl: "${LOCAL_BASE}/v1", apiKey: "local-model-key", api: "openai-completions",
    models: [{ id: "qwen", contextWindow: 32768 }] } } },
  bindings: [{ agentId: "ops", match: { channel: "telegram", peer: { kind: "direct", id: "42" } } },
    { agentId: "ops", match: { channel: "discord", accountId: "*", guildId: "123", roles: ["mods"] } }],
  update: { checkOnStart: false },
}
"""

AGENTS_JSON5 = """{
  defaults: { model: { primary: "local/qwen", fallbacks: [] }, workspace: "~/.openclaw/workspace",
    sandbox: { mode: "non-main", scope: "agent", workspaceAccess: "ro" } },
  list: [
    { id: "main", default: true },
    { id: "ops", workspace: "~/.openclaw/workspace-ops", identity: { name: "Ops" } },
  ],
}
"""

ENV = {"OPENCLAW_GATEWAY_TOKEN": "a-gateway-token-of-32-characters!!", "LOCAL_BASE": "http://127.0.0.1:8080"}


def write_openclaw(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "openclaw.json").write_text(OPENCLAW_JSON, encoding="utf-8")
    (root / "agents.json5").write_text(AGENTS_JSON5, encoding="utf-8")
    (root / "workspace").mkdir()
    (root / "workspace" / "SOUL.md").write_text("Be kind. Καλημέρα.\n", encoding="utf-8")
    return root


def test_includes_and_variables_resolve_like_openclaw(tmp_path: Path) -> None:
    root = write_openclaw(tmp_path / "oc")
    loaded = load_openclaw_config(root / "openclaw.json", {**ENV, "UNUSED": "x"}, root)
    assert loaded.data["agents"]["list"][1]["id"] == "ops"  # from the included file
    assert loaded.data["models"]["providers"]["local"]["baseUrl"] == "http://127.0.0.1:8080/v1"
    assert loaded.data["gateway"]["auth"]["token"] == ENV["OPENCLAW_GATEWAY_TOKEN"]
    assert root / "agents.json5" in [Path(p) for p in loaded.files]
    missing = load_openclaw_config(root / "openclaw.json", {}, root)
    assert missing.data["gateway"]["auth"]["token"] == "${OPENCLAW_GATEWAY_TOKEN}"  # stays visible
    assert set(missing.unresolved) == {"OPENCLAW_GATEWAY_TOKEN", "LOCAL_BASE"}


def test_sibling_keys_override_included_ones(tmp_path: Path) -> None:
    (tmp_path / "base.json5").write_text('{ port: 1, bind: "lan" }')
    (tmp_path / "openclaw.json").write_text('{ gateway: { $include: "./base.json5", port: 2 } }')
    loaded = load_openclaw_config(tmp_path / "openclaw.json", {}, tmp_path)
    assert loaded.data["gateway"] == {"port": 2, "bind": "lan"}


@pytest.mark.anyio
async def test_a_migrated_openclaw_json_validates_and_keeps_its_meaning(tmp_path: Path) -> None:
    root = write_openclaw(tmp_path / "oc")
    home = tmp_path / "rc"
    plan = plan_migration(root, home, ENV)
    report = describe(plan, dry_run=True)
    assert not home.exists()
    # Every key without an equivalent is listed with its reason.
    for key in ("bindings.1.match.roles", "channels.telegram.historyLimit", "agents.list.1.identity", "update"):
        assert f"  - {key}: " in report, key
    await run_migration(plan, ENV, lambda _: None)
    cfg = load_config(home / "config.yaml", env={"RUSTYCLAW_HOME": str(home)}).config
    assert cfg.sessions.dm_scope == "per-channel-peer"
    assert (cfg.sessions.reset.mode, cfg.sessions.reset.at_hour, cfg.sessions.reset.idle_minutes) == ("daily", 4, 120)
    assert cfg.sessions.reset_by_type["direct"].idle_minutes == 240  # `dm` is OpenClaw's alias of `direct`
    assert cfg.sessions.reset_by_type["group"].idle_minutes == 120
    assert cfg.tools.profile == "coding" and cfg.tools.deny == ["browser"]
    assert cfg.channels.telegram.allow_from == ["tg:123456789", "telegram:42"]
    assert cfg.channels.telegram.dm_policy == "allowlist"
    assert cfg.channels.telegram.bot_token == "123456:ABC-telegram-secret"
    assert (cfg.sandbox.mode, cfg.sandbox.scope, cfg.sandbox.workspace_access) == ("non-main", "agent", "ro")
    assert cfg.llm.routes["default"].primary == "local/qwen"
    assert cfg.llm.providers["local"].base_url == "http://127.0.0.1:8080/v1"
    assert cfg.agents.default_agent == "main"
    # The peer binding arrives as it was; the role-scoped one is left out (it would match more here).
    (binding,) = cfg.bindings
    assert binding.agent_id == "ops" and binding.match.channel == "telegram"
    assert binding.match.peer is not None and (binding.match.peer.kind, binding.match.peer.id) == ("direct", "42")
    text = (home / "config.yaml").read_text()
    for secret in ("123456:ABC-telegram-secret", "local-model-key", ENV["OPENCLAW_GATEWAY_TOKEN"], "sk-or-from"):
        assert secret not in text
    assert stat.S_IMODE(os.stat(home / "secrets.env").st_mode) == 0o600
    assert (home / "workspace" / "SOUL.md").read_text(encoding="utf-8") == "Be kind. Καλημέρα.\n"
    # The CLI agrees: `config validate` on the migrated file.
    os.environ["RUSTYCLAW_HOME"] = str(home)
    try:
        assert main(["config", "validate", "--config", str(home / "config.yaml")]) == 0
    finally:
        del os.environ["RUSTYCLAW_HOME"]


def test_config_validate_reads_json5(tmp_path: Path) -> None:
    path = tmp_path / "config.json5"
    path.write_text("// RustyClaw config in JSON5\n{ sessions: { dmScope: 'per-peer', }, gateway: { port: 18790 } }\n")
    assert load_config(path, env={"RUSTYCLAW_HOME": str(tmp_path)}).config.sessions.dm_scope == "per-peer"
    assert main(["config", "validate", "--config", str(path)]) == 0


def test_serve_loads_its_settings_from_json5(tmp_path: Path) -> None:
    from rustyclaw.settings import load_settings  # what `rustyclaw serve --config` calls

    path = tmp_path / "config.json5"
    path.write_text("{ gateway: { port: 18791, }, /* OpenClaw-style comment */ sessions: { dmScope: 'per-peer' } }")
    settings = load_settings(path, env={"RUSTYCLAW_HOME": str(tmp_path)})
    assert settings.config.gateway.port == 18791 and settings.config.sessions.dm_scope == "per-peer"


def test_a_json5_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.json5"
    path.write_text("{ sessions: { dmScope: 'per-peer' ")
    with pytest.raises(ConfigError, match=r"config\.json5: JSON5 syntax error"):
        load_config(path, env={"RUSTYCLAW_HOME": str(tmp_path)})


@pytest.mark.parametrize(
    ("snippet", "says"),
    [
        (
            "session:\n  dmScope: main\n",
            "unknown key 'session': OpenClaw's name for the section: RustyClaw's is 'sessions'",
        ),
        ("models:\n  providers: {}\n", "unknown key 'models': OpenClaw's name for the section: RustyClaw's is 'llm'"),
        (
            "agents:\n  defaults:\n    workspace: /tmp/w\n",
            "unknown key 'agents.defaults': RustyClaw has no agents.defaults",
        ),
        (
            "gateway:\n  http:\n    endpoints:\n      chatCompletions:\n        enabled: true\n",
            "unknown key 'gateway.http': use gateway.openaiEndpoint.enabled",
        ),
        ("tools:\n  toolsBySender: {}\n", "unknown key 'tools.toolsBySender': use tools.bySender"),
    ],
)
def test_an_openclaw_spelling_names_the_rustyclaw_key(tmp_path: Path, snippet: str, says: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(snippet)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={"RUSTYCLAW_HOME": str(tmp_path)})
    assert says in str(caught.value)
    assert "rustyclaw migrate openclaw" in str(caught.value)


MCP_AND_SKILLS = """{
  // From OpenClaw's docs (gateway/config-extensions.md, "MCP" and "Skills").
  mcp: { servers: {
    docs: { command: "uvx", args: ["mcp-server-fetch"] },
    remote: { url: "https://example.com/mcp", transport: "streamable-http", requestTimeoutMs: 20000,
      headers: { Authorization: "Bearer remote-mcp-secret" }, auth: "oauth" },
  } },
  skills: {
    allowBundled: ["gemini"],
    load: { extraDirs: ["~/agent-scripts/skills"] },
    entries: { "image-lab": { env: { GEMINI_API_KEY: "gemini-secret" } }, sag: { enabled: false } },
  },
}
"""


@pytest.mark.anyio
async def test_mcp_servers_and_skills_map_to_their_sections(tmp_path: Path) -> None:
    root = tmp_path / "oc"
    root.mkdir()
    (root / "openclaw.json").write_text(MCP_AND_SKILLS, encoding="utf-8")
    home = tmp_path / "rc"
    plan = plan_migration(root, home, {})
    report = describe(plan, dry_run=True)
    assert "mcp.servers.remote.auth: " in report and "skills.allowBundled: " in report
    await run_migration(plan, {}, lambda _: None)
    cfg = load_config(home / "config.yaml", env={"RUSTYCLAW_HOME": str(home)}).config
    assert cfg.mcp.servers["docs"].command == "uvx" and cfg.mcp.servers["docs"].args == ["mcp-server-fetch"]
    remote = cfg.mcp.servers["remote"]
    assert (remote.url, remote.transport, remote.request_timeout_ms) == (
        "https://example.com/mcp",
        "streamable-http",
        20000,
    )
    assert remote.headers["Authorization"] == "Bearer remote-mcp-secret"
    assert cfg.skills.entries["image-lab"].env["GEMINI_API_KEY"] == "gemini-secret"
    assert cfg.skills.entries["sag"].enabled is False
    text = (home / "config.yaml").read_text()
    assert "remote-mcp-secret" not in text and "gemini-secret" not in text


@pytest.mark.anyio
async def test_pairing_allowlists_are_carried_and_idempotent(tmp_path: Path) -> None:
    from rustyclaw.adapters.pairing.jsonfile import JsonFilePairingStore

    root = write_openclaw(tmp_path / "oc")
    # The classic allowlist file, written by RustyClaw's pairing store in OpenClaw's own format
    # (`credentials/<channel>-allowFrom.json`: {"version": 1, "allowFrom": [...]}).
    source = JsonFilePairingStore(root)
    for sender in ("123456789", "987654321"):
        await source.add_approved("telegram", sender)
    home = tmp_path / "rc"
    plan = plan_migration(root, home, ENV)
    assert plan.allow_from == {"telegram": ["123456789", "987654321"]}
    first = await run_migration(plan, ENV, lambda _: None)
    assert (first.pairing_added, first.pairing_total) == (2, 2)
    migrated = JsonFilePairingStore(home)
    assert await migrated.approved("telegram") == frozenset({"123456789", "987654321"})
    again = await run_migration(plan_migration(root, home, ENV), ENV, lambda _: None)
    assert (again.pairing_added, again.pairing_total) == (0, 2)


@pytest.mark.anyio
async def test_an_agents_model_fallbacks_and_own_sandbox_are_carried(tmp_path: Path) -> None:
    root = tmp_path / "oc"
    root.mkdir()
    (root / "openclaw.json").write_text("""{
      models: { providers: { local: { baseUrl: "http://127.0.0.1:8080/v1", api: "openai-completions" } } },
      agents: { defaults: { model: { primary: "local/qwen" } }, list: [
        { id: "main", default: true },
        { id: "ops", model: { primary: "local/coder", fallbacks: ["local/coder-small"] },
          sandbox: { mode: "all", scope: "session", workspaceAccess: "rw",
                     docker: { image: "ops-box:1", network: "bridge", memory: "2g" }, browser: { enabled: true } } },
      ] },
    }""", encoding="utf-8")
    home = tmp_path / "rc"
    plan = plan_migration(root, home, {})
    report = describe(plan, dry_run=True)
    for key in ("agents.list.1.sandbox.docker.memory", "agents.list.1.sandbox.browser"):
        assert f"  - {key}: " in report, key
    await run_migration(plan, {}, lambda _: None)
    cfg = load_config(home / "config.yaml", env={"RUSTYCLAW_HOME": str(home)}).config
    ops = next(a for a in cfg.agents.list if a.id == "ops")
    assert ops.model == "local/coder"
    assert (ops.routes["default"].primary, ops.routes["default"].fallbacks) == ("local/coder", ["local/coder-small"])
    assert ops.sandbox is not None and ops.sandbox.docker is not None
    assert (ops.sandbox.mode, ops.sandbox.scope, ops.sandbox.workspace_access) == ("all", "session", "rw")
    assert (ops.sandbox.docker.image, ops.sandbox.docker.network) == ("ops-box:1", "bridge")
