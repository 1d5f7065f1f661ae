"""The configuration loader: lookup order, formats, secrets.env, substitution and error messages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rustyclaw.config.loader import load_config
from rustyclaw.domain.errors import ConfigError


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated RUSTYCLAW_HOME and working folder, so the real home is never read."""
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("RUSTYCLAW_HOME", str(home))
    monkeypatch.chdir(work)
    return home


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env)
    return str(info.value)


# --- formats -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("c.yaml", "gateway:\n  port: 1234\nsessions:\n  dmScope: per-peer\n"),
        ("c.yml", "gateway: {port: 1234}\nsessions: {dmScope: per-peer}\n"),
        ("c.json", '{"gateway": {"port": 1234}, "sessions": {"dmScope": "per-peer"}}'),
        ("c.toml", '[gateway]\nport = 1234\n[sessions]\ndmScope = "per-peer"\n'),
    ],
)
def test_each_format_loads(home: Path, tmp_path: Path, name: str, text: str) -> None:
    path = write(tmp_path / name, text)
    loaded = load_config(path)
    assert loaded.source == path
    assert loaded.config.gateway.port == 1234
    assert loaded.config.sessions.dm_scope == "per-peer"
    assert loaded.config.gateway.host == "127.0.0.1"  # untouched keys keep their defaults


def test_empty_yaml_file_means_defaults(home: Path, tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path / "empty.yaml", "# nothing\n"))
    assert loaded.config.gateway.port == 18789


def test_unsupported_extension_is_refused(home: Path, tmp_path: Path) -> None:
    message = error_of(write(tmp_path / "c.ini", "[gateway]\n"))
    assert "c.ini" in message and ".yaml, .yml, .json, .json5 or .toml" in message


def test_top_level_must_be_a_mapping(home: Path, tmp_path: Path) -> None:
    message = error_of(write(tmp_path / "c.yaml", "- gateway\n"))
    assert "top level must be a mapping" in message and "list" in message


# --- lookup order ----------------------------------------------------------------------------------


def test_lookup_order(home: Path, tmp_path: Path) -> None:
    cwd_default = write(Path.cwd() / "config" / "default.yaml", "gateway: {port: 3}\n")
    home_file = write(home / "config.yaml", "gateway: {port: 2}\n")
    explicit = write(tmp_path / "explicit.yaml", "gateway: {port: 1}\n")

    assert load_config(explicit).config.gateway.port == 1
    loaded = load_config()
    assert (loaded.source, loaded.config.gateway.port) == (home_file, 2)
    home_file.unlink()
    loaded = load_config()
    assert (loaded.source, loaded.config.gateway.port) == (cwd_default, 3)
    cwd_default.unlink()
    loaded = load_config()
    assert loaded.source is None
    assert loaded.config.gateway.port == 18789


def test_explicit_path_must_exist(home: Path, tmp_path: Path) -> None:
    message = error_of(tmp_path / "missing.yaml")
    assert "not found" in message and "missing.yaml" in message


def test_home_comes_from_env_argument(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    other = tmp_path / "other-home"
    write(other / "config.yaml", "gateway: {port: 4242}\n")
    loaded = load_config(env={"RUSTYCLAW_HOME": str(other)})
    assert loaded.home == other
    assert loaded.config.gateway.port == 4242
    assert loaded.config.gateway.state_dir == other
    assert loaded.config.storage.sqlite.path == other / "rustyclaw.db"
    assert loaded.config.storage.json_store.dir == other
    assert loaded.config.agents.workspace == other / "workspace"
    assert loaded.config.plugins.dirs == [other / "plugins"]


def test_state_dir_expands_user_and_drives_storage_paths(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    cfg = load_config(write(tmp_path / "c.yaml", "gateway: {stateDir: ~/state}\n")).config
    assert cfg.gateway.state_dir == tmp_path / "user" / "state"
    assert cfg.storage.sqlite.path == tmp_path / "user" / "state" / "rustyclaw.db"


# --- secrets.env and substitution ------------------------------------------------------------------


def test_secrets_env_feeds_substitution_without_touching_os_environ(home: Path, tmp_path: Path) -> None:
    write(
        home / "secrets.env",
        "# tokens\n"
        "\n"
        "TG_TOKEN='123456:quoted-value'\n"
        'export DISCORD_TOKEN="discord value"\n'
        "PORT=2345  # inline comment\n"
        "OVERRIDDEN=from-file\n"
        "QUOTED_WITH_COMMENT='a # b' # trailing comment\n",
    )
    path = write(
        tmp_path / "c.yaml",
        "gateway: {port: '${PORT}'}\n"
        "channels:\n"
        "  telegram: {enabled: true, botToken: '${TG_TOKEN}'}\n"
        "  discord: {enabled: true, token: '${DISCORD_TOKEN}'}\n"
        "agents: {systemPrompt: '${OVERRIDDEN}'}\n"
        "tools: {web: {search: {baseUrl: '${QUOTED_WITH_COMMENT}'}}}\n",
    )
    cfg = load_config(path, env={"RUSTYCLAW_HOME": str(home), "OVERRIDDEN": "from-env"}).config
    assert cfg.gateway.port == 2345
    assert cfg.channels.telegram.bot_token == "123456:quoted-value"
    assert cfg.channels.discord.token == "discord value"
    assert cfg.agents.system_prompt == "from-env"  # the real environment wins over secrets.env
    assert cfg.tools.web.search.base_url == "a # b"
    assert "TG_TOKEN" not in os.environ


def test_bad_secrets_env_line_names_file_and_line(home: Path, tmp_path: Path) -> None:
    write(home / "secrets.env", "GOOD=1\nthis is not an assignment\n")
    message = error_of(write(tmp_path / "c.yaml", "{}\n"))
    assert "secrets.env:2" in message


def test_variables_and_defaults(home: Path, tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml",
        "gateway:\n"
        "  host: ${HOST}\n"
        "  port: ${PORT:-9999}\n"
        "agents:\n"
        "  systemPrompt: 'cost is $${NOT_A_VAR} and ${EMPTY:-fallback}'\n",
    )
    cfg = load_config(path, env={"HOST": "127.0.0.2", "EMPTY": ""}).config
    assert cfg.gateway.host == "127.0.0.2"
    assert cfg.gateway.port == 9999
    assert cfg.agents.system_prompt == "cost is ${NOT_A_VAR} and fallback"


def test_substitution_cannot_inject_yaml(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "agents: {systemPrompt: '${PROMPT}'}\n")
    cfg = load_config(path, env={"PROMPT": "x\nsandbox: {mode: all}"}).config
    assert cfg.agents.system_prompt == "x\nsandbox: {mode: all}"
    assert cfg.sandbox.mode == "off"


def test_missing_variable_names_file_key_path_and_variable(home: Path, tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml",
        "channels:\n  telegram:\n    botToken: ${TELEGRAM_BOT_TOKEN}\nllm:\n  providers:\n"
        "    ollama: {baseUrl: 'http://x/v1', apiKey: '${OLLAMA_KEY}'}\n",
    )
    message = error_of(path, env={})
    assert str(path) in message
    assert "channels.telegram.botToken: environment variable 'TELEGRAM_BOT_TOKEN' is not set" in message
    assert "llm.providers.ollama.apiKey: environment variable 'OLLAMA_KEY' is not set" in message


# --- validation messages ---------------------------------------------------------------------------


def test_unknown_key_suggests_nearest(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "sessions:\n  rest: {mode: daily}\n")
    message = error_of(path)
    assert str(path) in message
    assert "unknown key 'sessions.rest' (did you mean 'reset'?)" in message


def test_unknown_key_without_close_match_lists_valid_keys(home: Path, tmp_path: Path) -> None:
    message = error_of(write(tmp_path / "c.yaml", "voice:\n  zzzzzz: 1\n"))
    assert "unknown key 'voice.zzzzzz' (valid keys: stt, tts, idleUnloadSeconds)" in message


def test_unknown_top_level_section(home: Path, tmp_path: Path) -> None:
    message = error_of(write(tmp_path / "c.yaml", "channel: {}\n"))
    assert "unknown key 'channel' (did you mean 'channels'?)" in message


def test_unknown_key_deep_in_a_dict_of_models(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "llm:\n  providers:\n    vllm: {baseUrl: 'http://x', apiKye: k}\n")
    assert "unknown key 'llm.providers.vllm.apiKye' (did you mean 'apiKey'?)" in error_of(path)


def test_bad_enum_names_key_path_value_and_allowed_values(home: Path, tmp_path: Path) -> None:
    message = error_of(write(tmp_path / "c.yaml", "channels:\n  telegram:\n    dmPolicy: everyone\n"))
    assert "channels.telegram.dmPolicy: got 'everyone'" in message
    assert "'pairing', 'allowlist', 'open' or 'disabled'" in message


def test_dm_policy_open_requires_wildcard(home: Path, tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.yaml", "channels:\n  discord:\n    dmPolicy: open\n    allowFrom: ['42']\n")
    message = error_of(bad)
    assert 'channels.discord.dmPolicy: dmPolicy "open" requires allowFrom to contain "*"' in message
    good = write(tmp_path / "good.yaml", "channels:\n  discord:\n    dmPolicy: open\n    allowFrom: ['*']\n")
    assert load_config(good).config.channels.discord.dm_policy == "open"


def test_non_numeric_port(home: Path, tmp_path: Path) -> None:
    message = error_of(write(tmp_path / "c.yaml", "gateway: {port: eighty}\n"))
    assert "gateway.port: got 'eighty'" in message and "valid integer" in message


def test_every_problem_in_one_error(home: Path, tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml",
        "gateway: {port: eighty, logLevel: loud}\nsessions: {rest: {}}\nsandbox: {scope: world}\n",
    )
    message = error_of(path)
    assert "(4 problems)" in message
    for needle in ("gateway.port", "gateway.logLevel", "sessions.rest", "sandbox.scope"):
        assert needle in message


def test_route_must_name_a_known_provider(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "llm:\n  routes:\n    default: {primary: ollama/x, fallbacks: [vllm/y]}\n")
    message = error_of(path)
    assert "llm.routes.default.fallbacks.0: provider 'vllm'" in message
    assert "known: embedded, ollama" in message
    ok = write(tmp_path / "ok.yaml", "llm:\n  routes:\n    default: {primary: embedded/smollm2}\n")
    assert load_config(ok).config.llm.routes["default"].primary == "embedded/smollm2"


def test_host_network_is_refused_clearly(home: Path, tmp_path: Path) -> None:
    message = error_of(write(tmp_path / "c.yaml", "sandbox:\n  docker: {network: host}\n"))
    assert "sandbox.docker.network" in message and "network 'host' is refused" in message


def test_bare_yaml_off_keeps_its_meaning(home: Path, tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path / "c.yaml", "sandbox: {mode: off}\nvoice: {tts: {auto: off}}\n")).config
    assert cfg.sandbox.mode == "off"
    assert cfg.voice.tts.auto == "off"


def test_numeric_ids_become_text(home: Path, tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml",
        "channels:\n  telegram:\n    allowFrom: [123456789]\n    groups: {-1001: {requireMention: false}}\n",
    )
    telegram = load_config(path).config.channels.telegram
    assert telegram.allow_from == ["123456789"]
    assert telegram.groups["-1001"].require_mention is False


def test_secret_values_are_not_echoed_in_errors(home: Path, tmp_path: Path) -> None:
    message = error_of(write(tmp_path / "c.yaml", "gateway:\n  auth: {token: [sekrit-value-1]}\n"))
    assert "gateway.auth.token" in message
    assert "sekrit-value-1" not in message


def test_binding_beyond_loopback_needs_a_token(home: Path, tmp_path: Path) -> None:
    message = error_of(write(tmp_path / "c.yaml", "gateway: {host: 0.0.0.0}\n"))
    assert "gateway.host: binding to '0.0.0.0' (beyond loopback) needs gateway.auth.token" in message
    ok = write(tmp_path / "ok.yaml", "gateway: {host: 0.0.0.0, auth: {token: abcdef-0123456789-abcdef-01}}\n")
    assert load_config(ok).config.gateway.host == "0.0.0.0"


def test_unknown_timezone(home: Path, tmp_path: Path) -> None:
    message = error_of(write(tmp_path / "c.yaml", "gateway: {timezone: Mars/Olympus}\n"))
    assert "gateway.timezone" in message and "unknown time zone 'Mars/Olympus'" in message


# --- syntax errors ---------------------------------------------------------------------------------


def test_yaml_syntax_error_names_file_and_line(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "gateway:\n  port: 1\n  host: [unclosed\nsessions: {}\n")
    message = error_of(path)
    assert f"{path}:" in message and "YAML syntax error" in message
    line = int(message.split(f"{path}:", 1)[1].split(":", 1)[0])
    assert line in (3, 4)


def test_yaml_duplicate_key_is_refused(home: Path, tmp_path: Path) -> None:
    message = error_of(write(tmp_path / "c.yaml", "gateway:\n  port: 1\n  port: 2\n"))
    assert ":3:" in message and "'port' appears twice" in message and "line 2" in message


def test_json_syntax_error_names_file_and_line(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "c.json", '{\n  "gateway": {"port": 1,}\n}\n')
    assert f"{path}:2:" in error_of(path)


def test_toml_syntax_error_names_file_and_line(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", "[gateway]\nport = = 1\n")
    message = error_of(path)
    assert str(path) in message and "line 2" in message


def test_friendly_messages_for_formats_and_mapping_keys(home: Path, tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml",
        "agents: {list: [{id: 'bad:id'}]}\n"
        "llm: {routes: {default: {primary: noslash}}, embedded: {enabled: maybe}}\n"
        "sessions: {resetByType: {chat: {mode: daily}}}\n"  # (`dm` is OpenClaw's alias of direct)
        "sandbox: {docker: {memory: lots}}\n"
        "cron: {jobs: [{id: j, schedule: {every: soon}, message: hi}]}\n",
    )
    message = error_of(path)
    assert "(6 problems)" in message
    assert "agents.list.0.id: got 'bad:id'; should be letters, digits, '-' or '_'" in message
    assert "llm.routes.default.primary: got 'noslash'; should be 'provider/model'" in message
    assert "llm.embedded.enabled: got 'maybe'; should be auto, true or false" in message
    assert "sessions.resetByType: key 'chat' is not allowed; input should be 'direct', 'group' or 'thread'" in message
    assert "sandbox.docker.memory: got 'lots'; should be a size such as 512m or 1g" in message
    assert "cron.jobs.0.schedule.every: got 'soon'; should be a number and a unit" in message


@pytest.mark.parametrize(("text", "expected"), [("auto", "auto"), ("true", True), ("off", False), ("no", False)])
def test_embedded_enabled_accepts_auto_and_booleans(home: Path, tmp_path: Path, text: str, expected: object) -> None:
    path = write(tmp_path / "c.yaml", f"llm: {{embedded: {{enabled: '{text}'}}}}\n")
    assert load_config(path).config.llm.embedded.enabled == expected
