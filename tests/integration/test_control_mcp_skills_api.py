"""The control page's MCP and skills routes (`/api/control/mcp`, `/api/control/skills`) over the real
ControlPlane (rustyclaw/control_setup.py) with a real McpManager and a real SkillCatalog, in process.

MCP: the SDK fixture server over stdio (connected, its tools listed under their agent names), a
stdio server that exits at once and a streamable-HTTP URL nobody listens on (both down, with their
last error and the restart backoff), a disabled one; env and header values never in the body, a
secret in the command line replaced by `***`. Skills: a workspace skill of one agent and a managed
one every agent shares, a skill whose requirements are not met (what is missing said), one
switched off, an agent allowlist, a SKILL.md that cannot be read (its warning). Both routes need the
token and refuse foreign Hosts and Origins.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from rustyclaw.adapters.clock import SystemClock
from rustyclaw.adapters.http.app import create_app
from rustyclaw.adapters.http.settings import HttpSettings
from rustyclaw.adapters.http.testing import ScriptedGateway
from rustyclaw.adapters.mcp.manager import McpManager
from rustyclaw.adapters.mcp.settings import McpSettings, ServerSettings
from rustyclaw.adapters.skills.catalog import SkillCatalog, SkillRoots
from rustyclaw.adapters.storage.memory import MemoryStore
from rustyclaw.control_setup import GatewayControl
from rustyclaw.domain.sessions import SessionService
from rustyclaw.domain.settings import SessionSettings
from rustyclaw.domain.skills import SkillRules
from rustyclaw.ports.control import AgentView
from tests.fixtures.mcp_servers import fixture_stdio_argv

pytestmark = pytest.mark.anyio
TOKEN = "control-mcp-token-0123456789abcdef"
ENV_SECRET = "env-secret-value-7f3a91"
HEADER_SECRET = "header-secret-value-c0ffee"
ARG_SECRET = "arg-secret-value-5eed"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_skill(folder: Path, front: str, body: str = "Do the thing.") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "SKILL.md"
    path.write_text(f"---\n{front}\n---\n{body}\n", encoding="utf-8")
    return path


@asynccontextmanager
async def control_app(tmp_path: Path, *, token: str | None = TOKEN, host: str = "127.0.0.1:18789",
                      failing: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """`failing`: also the two servers that fail (closing waits out their backoff sleep, ~10 s)."""
    fx = fixture_stdio_argv("--only-ten")
    live = ServerSettings(name="fx", transport="stdio", command=fx[0], args=fx[1:], env={"FX_TOKEN": ENV_SECRET})
    manager = McpManager(McpSettings(servers=(live,) if not failing else (
        live,
        ServerSettings(name="broken", transport="stdio", command=sys.executable,
                       args=("-c", "import sys; sys.exit(3)", ARG_SECRET), connect_timeout=20),
        ServerSettings(name="remote", transport="streamable-http", url=f"http://127.0.0.1:{_closed_port()}/mcp",
                       headers={"Authorization": f"Bearer {HEADER_SECRET}"}, connect_timeout=10),
        ServerSettings(name="off", transport="stdio", command=fx[0], args=fx[1:], enabled=False),
    # A long backoff: the failed servers are still waiting for their restart when the page asks.
    ), restart_backoff=300, restart_max=300, log_dir=tmp_path / "logs"))
    catalog = SkillCatalog(
        SkillRoots(workspace_of=lambda agent: tmp_path / "workspaces" / agent, managed=tmp_path / "managed"),
        rules=SkillRules(disabled=frozenset({"retired"}), by_agent={"ops": ("weather", "deploy")}),
    )
    store = MemoryStore()
    await store.start()
    clock = SystemClock()
    control = GatewayControl(
        SessionService(store, clock, SessionSettings()), clock,
        agents=[AgentView(id="main", model="local/m", default=True),
                AgentView(id="ops", model="local/m", default=False)],
        config_text=lambda: "", mcp=manager, skills=catalog, secrets=(ENV_SECRET, HEADER_SECRET, ARG_SECRET),
    )
    app = create_app(ScriptedGateway(), HttpSettings(token=token), control)
    await manager.start()
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}",
                                     headers=headers) as http:
            yield http
    finally:
        await manager.aclose()
        await store.aclose()


async def test_mcp_servers_state_errors_backoff_and_tools_without_secrets(tmp_path: Path) -> None:
    async with control_app(tmp_path) as http:
        response = await http.get("/api/control/mcp")
    assert response.status_code == 200
    body = response.text
    for secret in (ENV_SECRET, HEADER_SECRET, ARG_SECRET, "FX_TOKEN", "Authorization"):
        assert secret not in body, secret
    servers = {s["name"]: s for s in response.json()["servers"]}
    assert sorted(servers) == ["broken", "fx", "off", "remote"]

    fx = servers["fx"]
    assert (fx["transport"], fx["enabled"], fx["state"], fx["status"], fx["error"]) == (
        "stdio", True, "connected", "ready", None)
    names = {t["name"]: t for t in fx["tools"]}
    assert len(names) == 10 and names["fx__add"]["remote_name"] == "add"
    assert names["fx__add"]["description"] == "Add two integers."
    assert "mcp_fixture_server.py" in fx["launch"]

    for name, transport in (("broken", "stdio"), ("remote", "streamable-http")):
        down = servers[name]
        assert (down["transport"], down["state"], down["status"]) == (transport, "down", "backoff"), down
        assert down["error"], down  # the last error, as the connection saw it
        assert down["restarts"] == 1 and down["retry_in"] is not None and down["retry_in"] > 0
        assert down["tools"] == []
    assert "***" in servers["broken"]["launch"]  # the command line's secret, replaced
    assert servers["remote"]["launch"].startswith("streamable-http http://127.0.0.1:")

    off = servers["off"]
    assert (off["enabled"], off["state"], off["tools"]) == (False, "disabled", [])


async def test_skills_with_source_root_path_requirements_and_agents(tmp_path: Path) -> None:
    weather = write_skill(tmp_path / "workspaces" / "main" / "skills" / "weather",
                          "name: weather\ndescription: Forecasts for a city.")
    deploy = write_skill(
        tmp_path / "managed" / "ops" / "deploy",  # grouped layout: a folder deeper
        "name: deploy\ndescription: Ship a release.\n"
        'metadata: {"openclaw": {"requires": {"bins": ["rustyclaw-no-such-binary"], "env": ["RC_NO_SUCH_VAR"]}}}')
    write_skill(tmp_path / "managed" / "retired", "name: retired\ndescription: An old skill.")
    write_skill(tmp_path / "managed" / "notes", "name: notes\ndescription: Keep notes.")
    write_skill(tmp_path / "managed" / "broken", "name: broken")  # no description: skipped, warned

    async with control_app(tmp_path, failing=False) as http:
        response = await http.get("/api/control/skills")
    assert response.status_code == 200
    data = response.json()
    assert data["enabled"] is True
    skills = {s["name"]: s for s in data["skills"]}
    assert sorted(skills) == ["deploy", "notes", "retired", "weather"]

    assert skills["weather"] == {
        "name": "weather", "description": "Forecasts for a city.", "source": "workspace",
        "root": str(tmp_path / "workspaces" / "main" / "skills"), "path": str(weather), "enabled": True,
        "eligible": True, "missing": [], "agents": ["main"], "warnings": [],
    }
    d = skills["deploy"]
    assert (d["source"], d["root"], d["path"]) == ("managed", str(tmp_path / "managed"), str(deploy))
    assert d["eligible"] is False
    assert d["missing"] == ["needs rustyclaw-no-such-binary on PATH", "needs the environment variable RC_NO_SUCH_VAR"]
    assert d["agents"] == ["main", "ops"]
    assert skills["notes"]["agents"] == ["main"]  # ops's allowlist leaves it out
    assert (skills["retired"]["enabled"], skills["retired"]["agents"]) == (False, [])
    assert [w for w in data["warnings"] if "broken" in w and "description" in w]


async def test_mcp_and_skills_routes_need_the_token_and_a_local_origin(tmp_path: Path) -> None:
    async with (
        control_app(tmp_path, failing=False) as http,
        httpx.AsyncClient(transport=http._transport, base_url="http://127.0.0.1:18789") as anonymous,
    ):
        for path in ("/api/control/mcp", "/api/control/skills"):
            response = await anonymous.get(path)
            assert response.status_code == 401, path
            assert response.json()["error"]["code"] == "missing_api_key"
            wrong = await anonymous.get(path, headers={"Authorization": "Bearer not-the-token"})
            assert wrong.status_code == 401, path
    async with control_app(tmp_path, token=None, host="rebound.example:18789", failing=False) as http:
        for path in ("/api/control/mcp", "/api/control/skills"):
            response = await http.get(path)
            assert response.status_code == 403 and response.json()["error"]["code"] == "host_not_allowed", path
    async with control_app(tmp_path, token=None, failing=False) as http:
        for path in ("/api/control/mcp", "/api/control/skills"):
            crossed = await http.get(path, headers={"Origin": "http://evil.example"})
            assert crossed.status_code == 403 and crossed.json()["error"]["code"] == "bad_origin", path
