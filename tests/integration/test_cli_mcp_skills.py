"""`rustyclaw mcp list|tools|call|serve` and `rustyclaw skills list|info|check|install` as real commands:
the npm reference servers, the gateway served over MCP to the SDK's own stdio client (llmock answers
as the model), and installs refusing a malicious archive."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.llm_servers import LLMockServer
from tests.fixtures.mcp_servers import npm_mcp_server


def write_config(home: Path, **sections: Any) -> Path:
    config: dict[str, Any] = {
        "gateway": {"stateDir": str(home / "state")},
        "agents": {"workspace": str(home / "workspace")},
        "llm": {"embedded": {"enabled": False}},
        **sections,
    }
    path = home / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def rustyclaw(home: Path, config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUSTYCLAW_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "rustyclaw", *args, "--config", str(config)],
                          capture_output=True, text=True, env=env, timeout=timeout)


def test_mcp_list_tools_and_call_on_the_reference_server(tmp_path: Path) -> None:
    node, entry = npm_mcp_server("everything")
    config = write_config(tmp_path, mcp={"servers": {
        "everything": {"command": node, "args": [entry, "stdio"], "env": {"API_TOKEN": "hidden-value"}},
        "remote": {"url": "http://127.0.0.1:9/mcp", "enabled": False, "headers": {"Authorization": "Bearer x"}},
    }})
    listed = rustyclaw(tmp_path, config, "mcp", "list")
    assert listed.returncode == 0, listed.stderr
    assert "everything\tstdio\tenabled, at start\tnode " in listed.stdout
    assert "remote\tstreamable-http\tdisabled" in listed.stdout
    assert "hidden-value" not in listed.stdout and "Bearer" not in listed.stdout

    tools = rustyclaw(tmp_path, config, "mcp", "tools", "--json")
    assert tools.returncode == 0, tools.stderr
    data = json.loads(tools.stdout)
    names = {t["name"] for t in data["tools"]}
    assert {"everything__echo", "everything__get-sum"} <= names
    assert data["servers"][0]["status"] == "ready"

    called = rustyclaw(tmp_path, config, "mcp", "call", "everything", "echo", '{"message": "from the cli"}')
    assert called.returncode == 0, called.stderr
    assert called.stdout.strip() == "Echo: from the cli"
    by_agent_name = rustyclaw(tmp_path, config, "mcp", "call", "everything", "everything__get-sum", '{"a": 2, "b": 3}')
    assert "5" in by_agent_name.stdout

    bad = rustyclaw(tmp_path, config, "mcp", "call", "everything", "echo", "[1, 2]")
    assert bad.returncode == 2 and "should be a JSON object" in bad.stderr
    missing = rustyclaw(tmp_path, config, "mcp", "tools", "nope")
    assert missing.returncode == 2 and "no MCP server 'nope'" in missing.stderr


def test_mcp_list_refuses_a_bad_server_with_its_key_path(tmp_path: Path) -> None:
    config = write_config(tmp_path, mcp={"servers": {"bad": {"command": "node", "url": "http://x"}}})
    result = rustyclaw(tmp_path, config, "mcp", "list")
    assert result.returncode != 0 and "mcp.servers.bad" in result.stderr and "not both" in result.stderr


@pytest.mark.anyio
async def test_mcp_serve_exposes_the_gateway_to_an_mcp_client(tmp_path: Path, mock_llm: LLMockServer) -> None:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    config = write_config(tmp_path, llm={
        "providers": {"mock": {"baseUrl": mock_llm.base_url}}, "routes": {"default": {"primary": "mock/m"}},
        "embedded": {"enabled": False}, "retry": {"attempts": 1},
    })
    mock_llm.reply("Hello from the gateway.")
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "rustyclaw", "mcp", "serve", "--config", str(config)],
        env={**os.environ, "RUSTYCLAW_HOME": str(tmp_path)},
    )
    with open(tmp_path / "serve-stderr.log", "w", encoding="utf-8") as errlog:  # noqa: ASYNC230 - a local log
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            names = {t.name for t in (await session.list_tools()).tools}
            assert names == {"sessions_list", "sessions_history", "sessions_send"}

            sent = await session.call_tool("sessions_send", {"text": "hi there", "session": "editor"})
            assert not sent.is_error, sent.content
            reply = json.loads(sent.content[0].text)  # type: ignore[union-attr]
            assert reply["reply"] == "Hello from the gateway."
            assert reply["sessionKey"] == "agent:main:mcp:direct:editor"

            listed = json.loads((await session.call_tool("sessions_list", {})).content[0].text)  # type: ignore[union-attr]
            assert [s["key"] for s in listed["sessions"]] == ["agent:main:mcp:direct:editor"]

            history = await session.call_tool("sessions_history", {"key": "agent:main:mcp:direct:editor"})
            messages = json.loads(history.content[0].text)["messages"]  # type: ignore[union-attr]
            assert [(m["role"], m["text"]) for m in messages] == [
                ("user", "hi there"), ("assistant", "Hello from the gateway.")]

            unknown = await session.call_tool("sessions_history", {"key": "agent:main:nope"})
            assert unknown.is_error and "no session" in unknown.content[0].text  # type: ignore[union-attr]
            wrong_agent = await session.call_tool("sessions_send", {"text": "x", "agent": "ghost"})
            assert wrong_agent.is_error and "unknown agent" in wrong_agent.content[0].text  # type: ignore[union-attr]
    # The model saw the message the MCP client sent, through the gateway's own turn.
    bodies = [r["body"] for r in mock_llm.requests() if r.get("body")]
    assert bodies and bodies[-1]["messages"][-1]["content"] == "hi there"


def _skill(folder: Path, name: str, description: str, meta: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    metadata = f"metadata: {meta}\n" if meta else ""
    (folder / "SKILL.md").write_text(f"---\nname: {name}\ndescription: {description}\n{metadata}---\nBody.\n",
                                     encoding="utf-8")


def test_skills_list_info_check(tmp_path: Path) -> None:
    config = write_config(tmp_path, skills={"entries": {"off-skill": {"enabled": False}}})
    _skill(tmp_path / "workspace" / "skills" / "ready-skill", "ready-skill", "Works here.")
    _skill(tmp_path / "state" / "skills" / "needs-bin", "needs-bin", "Needs a tool.",
           '{"openclaw": {"requires": {"bins": ["no-such-binary-here"]}}}')
    _skill(tmp_path / "state" / "skills" / "off-skill", "off-skill", "Switched off.")
    (tmp_path / "state" / "skills" / "broken").mkdir(parents=True)
    (tmp_path / "state" / "skills" / "broken" / "SKILL.md").write_text("---\nname: [oops\n---\n", encoding="utf-8")

    listed = rustyclaw(tmp_path, config, "skills", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)["skills"]}
    assert rows["ready-skill"]["status"] == "ready" and rows["ready-skill"]["source"] == "workspace"
    assert rows["needs-bin"]["status"] == "needs no-such-binary-here on PATH"
    assert rows["off-skill"]["status"] == "disabled (skills.entries)"

    info = rustyclaw(tmp_path, config, "skills", "info", "needs-bin")
    assert "requires: binary on PATH: no-such-binary-here" in info.stdout
    assert "location: " + str(tmp_path / "state" / "skills" / "needs-bin" / "SKILL.md") in info.stdout

    check = rustyclaw(tmp_path, config, "skills", "check")
    assert check.returncode == 1  # the broken SKILL.md is reported
    assert "main: 1 of 3 skills ready" in check.stdout and "broken" in check.stdout


def test_skills_install_shows_what_it_asks_and_refuses_malicious_archives(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    good = tmp_path / "src" / "notes-helper"
    _skill(good, "notes-helper", "Helps with notes.",
           '{"openclaw": {"requires": {"bins": ["git"], "env": ["NOTES_DIR"]}}}')
    installed = rustyclaw(tmp_path, config, "skills", "install", str(good))
    assert installed.returncode == 0, installed.stderr
    assert "asks for: binary on PATH: git; environment variable: NOTES_DIR" in installed.stdout
    target = tmp_path / "workspace" / "skills" / "notes-helper" / "SKILL.md"
    assert target.is_file() and f"installed: {target.parent}" in installed.stdout

    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        for name, payload in (("evil/SKILL.md", b"---\nname: evil\ndescription: x\n---\n"),
                              ("evil/../../../../outside.txt", b"pwned")):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    refused = rustyclaw(tmp_path, config, "skills", "install", str(evil), "--global")
    assert refused.returncode == 2 and "climbs out with '..'" in refused.stderr
    assert not (tmp_path / "state" / "skills" / "evil").exists() and not list(tmp_path.rglob("outside.txt"))

    sudo = tmp_path / "src" / "rooter"
    _skill(sudo, "rooter", "Needs root.", '{"openclaw": {"requires": {"bins": ["sudo"]}}}')
    denied = rustyclaw(tmp_path, config, "skills", "install", str(sudo), "--global")
    assert denied.returncode == 1 and "refused: it asks for the binary sudo" in denied.stdout
    assert not (tmp_path / "state" / "skills" / "rooter").exists()


def test_config_validate_refuses_unknown_mcp_server_names(tmp_path: Path) -> None:
    config = write_config(tmp_path, agents={"workspace": str(tmp_path / "workspace"),
                                            "list": [{"id": "main", "mcp": ["ghost"]}]},
                          mcp={"allowInSandbox": ["phantom"]})
    result = rustyclaw(tmp_path, config, "config", "validate")
    assert result.returncode == 2
    assert "agents.list.0.mcp: 'ghost' is not in mcp.servers (configured: none)" in result.stderr
    assert "mcp.allowInSandbox: 'phantom' is not in mcp.servers" in result.stderr
