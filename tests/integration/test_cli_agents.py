"""`rustyclaw agents list|show` and `config validate` as a user runs them (a real process, a real file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml


def run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUSTYCLAW_HOME": str(config.parent)}
    return subprocess.run([sys.executable, "-m", "rustyclaw", *args, "--config", str(config)],
                          capture_output=True, text=True, timeout=60, env=env, check=False)


def write_config(tmp_path: Path, bindings: list[dict[str, object]]) -> Path:
    (tmp_path / "ops-ws").mkdir(exist_ok=True)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({
        "gateway": {"stateDir": str(tmp_path / "state")},
        "agents": {"workspace": str(tmp_path / "ws"), "list": [
            {"id": "ops", "workspace": str(tmp_path / "ops-ws"), "model": "ollama/qwen2.5-coder",
             "tools": {"allow": ["group:fs"]}, "mcp": [], "skills": ["git"],
             "routes": {"code": {"primary": "ollama/qwen2.5-coder:7b", "fallbacks": ["ollama/qwen2.5-coder:1.5b"]}},
             "sandbox": {"mode": "all", "docker": {"network": "bridge"}}},
        ]},
        "bindings": bindings,
    }))
    return path


def test_agents_list_and_show_name_each_agents_route_workspace_and_bindings(tmp_path: Path) -> None:
    config = write_config(tmp_path, [
        {"agentId": "ops", "match": {"channel": "telegram", "peer": {"kind": "direct", "id": "777"}}},
        {"agentId": "ops", "match": {"channel": "discord", "accountId": "*", "guildId": "G1"}},
    ])
    listed = run(config, "agents", "list")
    assert listed.returncode == 0, listed.stderr
    rows = dict(line.split("\t", 1) for line in listed.stdout.splitlines())
    assert set(rows) == {"main", "ops"}
    assert "(default)" in rows["main"]
    assert "telegram peer direct:777; discord account * guild G1" in rows["ops"]
    shown = run(config, "agents", "show", "ops", "--json")
    assert shown.returncode == 0, shown.stderr
    ops = json.loads(shown.stdout)
    assert ops["workspace"] == str(tmp_path / "ops-ws")
    assert (ops["model"], ops["modelFrom"]) == ("ollama/qwen2.5-coder", "agents.list[].model")
    assert ops["tools"]["allow"] == ["group:fs"] and ops["mcp"] == [] and ops["skills"] == ["git"]
    assert ops["bindings"][1] == {"channel": "discord", "accountId": "*", "guildId": "G1"}
    assert ops["routes"] == {"code": ["ollama/qwen2.5-coder:7b", "ollama/qwen2.5-coder:1.5b"]}
    assert (ops["sandbox"]["mode"], ops["sandbox"]["network"], ops["sandbox"]["scope"]) == ("all", "bridge", "agent")
    text = run(config, "agents", "show", "ops").stdout
    assert "route:     code -> ollama/qwen2.5-coder:7b > ollama/qwen2.5-coder:1.5b" in text
    assert "sandbox:   mode all, scope agent, workspace none, image rustyclaw-sandbox:latest, network bridge" in text
    missing = run(config, "agents", "show", "ghost")
    assert missing.returncode == 2 and "no agent 'ghost' (configured: main, ops)" in missing.stderr


def test_config_validate_refuses_a_binding_to_an_unknown_agent(tmp_path: Path) -> None:
    config = write_config(tmp_path, [{"agentId": "ghost", "match": {"channel": "telegram"}}])
    result = run(config, "config", "validate")
    assert result.returncode == 2
    assert "bindings.0.agentId: binding to agent 'ghost'" in result.stderr
    assert "agents: main, ops" in result.stderr
