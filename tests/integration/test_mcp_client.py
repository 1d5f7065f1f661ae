"""The MCP client against real servers: the npm reference servers over stdio, the SDK fixture server
over stdio and streamable HTTP; naming, groups and policy, result caps, crash, hang and restart."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from rustyclaw.adapters.mcp.manager import McpManager, McpTool
from rustyclaw.adapters.mcp.settings import McpSettings, ServerSettings
from rustyclaw.domain.errors import ToolError
from rustyclaw.domain.policy import ConfiguredPolicy, PolicySettings
from rustyclaw.ports.tools import ToolContext
from tests.fixtures.mcp_servers import McpHttpServer, fixture_stdio_argv, npm_mcp_server

pytestmark = pytest.mark.anyio

CTX = ToolContext(agent_id="main", session_key="agent:main:main", session_id="s1", channel="web", sender_id="u1")


def stdio(name: str, argv: tuple[str, ...], **kw: object) -> ServerSettings:
    return ServerSettings(name=name, transport="stdio", command=argv[0], args=argv[1:], **kw)  # type: ignore[arg-type]


def tool(manager: McpManager, name: str) -> McpTool:
    found = {t.spec.name: t for t in manager.tools()}
    assert name in found, f"{name} not in {sorted(found)}"
    return found[name]


@pytest.fixture
async def reference_servers(tmp_path: Path) -> AsyncIterator[McpManager]:
    (tmp_path / "notes.txt").write_text("remember the milk\n", encoding="utf-8")
    manager = McpManager(McpSettings(servers=(
        stdio("everything", (*npm_mcp_server("everything"), "stdio")),
        stdio("files", (*npm_mcp_server("filesystem"), str(tmp_path))),
    ), log_dir=tmp_path / "logs"))
    await manager.start()
    try:
        yield manager
    finally:
        await manager.aclose()


@pytest.fixture(scope="module")
def http_server() -> Iterator[McpHttpServer]:
    server = McpHttpServer.start()
    try:
        yield server
    finally:
        server.stop()


async def test_reference_servers_tools_are_named_server__tool_and_answer(
    reference_servers: McpManager, tmp_path: Path
) -> None:
    registered: list[str] = []
    reference_servers.attach(lambda t: registered.append(t.spec.name))
    names = {t.spec.name for t in reference_servers.tools()}
    assert {"everything__echo", "everything__get-sum", "files__read_text_file", "files__list_directory"} <= names
    assert set(registered) == names
    assert all(s.status == "ready" for s in reference_servers.status())

    echo = tool(reference_servers, "everything__echo")
    assert echo.spec.parameters["properties"]["message"]["type"] == "string"
    assert "$schema" not in echo.spec.parameters
    assert await echo.run({"message": "hello there"}, CTX) == "Echo: hello there"
    assert "remember the milk" in await tool(reference_servers, "files__read_text_file").run(
        {"path": str(tmp_path / "notes.txt")}, CTX)
    listing = await tool(reference_servers, "files__list_directory").run({"path": str(tmp_path)}, CTX)
    assert "[FILE] notes.txt" in listing


async def test_reference_server_error_results_come_back_as_tool_errors(
    reference_servers: McpManager, tmp_path: Path
) -> None:
    # The filesystem server refuses paths outside its allowed folder with an isError result.
    with pytest.raises(ToolError, match=r"(?i)denied|outside|not allowed"):
        await tool(reference_servers, "files__read_text_file").run({"path": "/etc/passwd"}, CTX)
    image = await tool(reference_servers, "everything__get-tiny-image").run({}, CTX)
    assert "[image image/png" in image  # described, never inlined as base64


async def test_groups_and_profiles_govern_mcp_tools(reference_servers: McpManager) -> None:
    groups = reference_servers.groups
    assert "everything__echo" in groups["group:mcp"] and "files__read_text_file" in groups["group:mcp"]
    assert "files__read_text_file" in groups["group:mcp:files"]
    assert "everything__echo" not in groups["group:mcp:files"]

    def verdict(settings: PolicySettings, name: str, agent: str = "main") -> str:
        policy = ConfiguredPolicy(settings, reference_servers.agent_gate, groups=groups)
        context = ToolContext(agent_id=agent, session_key="k", session_id="s", channel="web", sender_id="u")
        return policy.decide(name, context).verdict

    assert verdict(PolicySettings(profile="coding"), "everything__echo") == "allow"
    assert verdict(PolicySettings(profile="messaging"), "files__read_text_file") == "allow"
    assert verdict(PolicySettings(profile="minimal"), "everything__echo") == "deny"
    assert verdict(PolicySettings(deny=("group:mcp:files",)), "files__read_text_file") == "deny"
    assert verdict(PolicySettings(deny=("group:mcp:files",)), "everything__echo") == "allow"
    assert verdict(PolicySettings(deny=("bundle-mcp",)), "everything__echo") == "deny"  # OpenClaw's key
    assert verdict(PolicySettings(profile="minimal", allow=("files__*",)), "files__list_directory") == "allow"

    scoped = McpManager(reference_servers.settings, agent_servers={"ops": ("files",)})
    everything = reference_servers.connections["everything"]
    scoped._listed(everything.settings, everything.tools)
    policy = ConfiguredPolicy(PolicySettings(), scoped.agent_gate, groups=scoped.groups)
    ops = ToolContext(agent_id="ops", session_key="k", session_id="s", channel="web", sender_id="u")
    decision = policy.decide("everything__echo", ops)
    assert decision.verdict == "deny" and "agents[ops].mcp" in decision.rule
    assert policy.decide("everything__echo", CTX).verdict == "allow"  # agents without a list get every server


async def test_streamable_http_server_with_headers(http_server: McpHttpServer) -> None:
    manager = McpManager(McpSettings(servers=(ServerSettings(
        name="Remote Tools", transport="streamable-http", url=http_server.url,
        headers={"Authorization": "Bearer test-token"}, exclude=("crash", "freeze"),
    ),)))
    await manager.start()
    try:
        names = {t.spec.name for t in manager.tools()}
        assert "remote-tools__add" in names and "remote-tools__weather" in names
        assert "remote-tools__crash" not in names  # toolFilter.exclude
        assert await tool(manager, "remote-tools__add").run({"a": 2, "b": 40}, CTX) == "42"
        assert manager.status()[0].transport == "streamable-http"
    finally:
        await manager.aclose()


async def test_sse_server() -> None:
    server = McpHttpServer.start(transport="sse")
    try:
        manager = McpManager(McpSettings(servers=(ServerSettings(name="old", transport="sse", url=server.url),)))
        await manager.start()
        try:
            assert manager.status()[0].status == "ready", manager.status()
            assert await tool(manager, "old__upper").run({"text": "quiet"}, CTX) == "QUIET"
        finally:
            await manager.aclose()
    finally:
        server.stop()


async def test_results_are_capped(tmp_path: Path) -> None:
    manager = McpManager(McpSettings(servers=(stdio("fx", fixture_stdio_argv(), max_result_chars=500),)))
    await manager.start()
    try:
        text = await tool(manager, "fx__big").run({"chars": 5000}, CTX)
        assert text.startswith("x" * 500) and "truncated: showed 500 of 5000" in text
    finally:
        await manager.aclose()


async def test_a_changed_tool_list_is_listed_again() -> None:
    import anyio

    manager = McpManager(McpSettings(servers=(stdio("fx", fixture_stdio_argv()),)))
    arrived = anyio.Event()
    manager.attach(lambda t: arrived.set() if t.spec.name == "fx__late" else None)
    await manager.start()
    try:
        assert "fx__late" not in {t.spec.name for t in manager.tools()}
        assert await tool(manager, "fx__grow").run({}, CTX) == "grown"
        with anyio.fail_after(30):
            await arrived.wait()
        assert await tool(manager, "fx__late").run({}, CTX) == "late answer"
        assert "fx__late" in manager.groups["group:mcp:fx"]
    finally:
        await manager.aclose()


async def test_a_crashed_server_is_restarted_and_answers_again() -> None:
    manager = McpManager(McpSettings(servers=(stdio("fx", fixture_stdio_argv()),), restart_backoff=0.2))
    await manager.start()
    try:
        before = await tool(manager, "fx__timestamp").run({}, CTX)
        with pytest.raises(ToolError, match="went away during crash"):
            await tool(manager, "fx__crash").run({}, CTX)
        # The next call waits for the restarted server (bounded by its connect timeout).
        after = await tool(manager, "fx__timestamp").run({}, CTX)
        assert after.startswith("pid=") and after != before
        status = manager.status()[0]
        assert status.status == "ready" and status.restarts == 1
    finally:
        await manager.aclose()


async def test_a_hung_server_costs_one_error_and_is_restarted() -> None:
    manager = McpManager(McpSettings(
        servers=(stdio("fx", fixture_stdio_argv(), request_timeout=1.0),), restart_backoff=0.2,
    ))
    await manager.start()
    try:
        before = await tool(manager, "fx__timestamp").run({}, CTX)
        # `freeze` blocks the server's whole loop: the call times out, the ping fails, a restart follows.
        with pytest.raises(ToolError, match="did not answer freeze within 1s"):
            await tool(manager, "fx__freeze").run({"seconds": 120}, CTX)
        after = await tool(manager, "fx__timestamp").run({}, CTX)
        assert after != before and manager.status()[0].restarts == 1
    finally:
        await manager.aclose()


async def test_a_slow_tool_times_out_but_a_responsive_server_is_kept() -> None:
    manager = McpManager(McpSettings(servers=(stdio("fx", fixture_stdio_argv(), request_timeout=1.0),)))
    await manager.start()
    try:
        before = await tool(manager, "fx__timestamp").run({}, CTX)
        with pytest.raises(ToolError, match="did not answer slow within 1s"):
            await tool(manager, "fx__slow").run({"seconds": 120}, CTX)
        assert await tool(manager, "fx__timestamp").run({}, CTX) == before
        assert manager.status()[0].restarts == 0
    finally:
        await manager.aclose()


async def test_a_server_that_never_starts_backs_off_and_does_not_block(tmp_path: Path) -> None:
    mute = stdio("mute", (sys.executable, "-c", "import time; time.sleep(600)"), connect_timeout=1.0)
    broken = stdio("broken", (sys.executable, "-c", "import sys; sys.exit(3)"), connect_timeout=2.0)
    manager = McpManager(McpSettings(servers=(mute, broken), restart_backoff=0.1, restart_max=0.2))
    await manager.start()  # returns once each eager server has failed its first attempt
    try:
        states = {s.name: s for s in manager.status()}
        assert states["mute"].status in ("backoff", "starting") and states["mute"].error == "timed out"
        assert states["broken"].status in ("backoff", "starting") and states["broken"].error
        assert manager.tools() == []
        with pytest.raises(ToolError, match="MCP server 'broken' is not available"):
            await manager.connections["broken"].call("anything", {})
        assert manager.connections["broken"].status().restarts >= 1
        assert not manager.healthy()
    finally:
        await manager.aclose()
    assert {s.status for s in manager.status()} == {"stopped"}


async def test_lazy_server_offers_remembered_tools_and_starts_on_first_use(tmp_path: Path) -> None:
    lazy = stdio("fx", fixture_stdio_argv(), lazy=True)
    settings = McpSettings(servers=(lazy,), cache_dir=tmp_path / "mcp")
    # Never seen before: started once in the background (start() does not wait) to learn its tools.
    first = McpManager(settings)
    await first.start()
    try:
        await first.connections["fx"].ensure()
        assert "fx__add" in {t.spec.name for t in first.tools()}
        assert (tmp_path / "mcp" / "fx.tools.json").is_file()
    finally:
        await first.aclose()

    again = McpManager(settings)
    registered: list[str] = []
    again.attach(lambda t: registered.append(t.spec.name))
    await again.start()
    try:
        # Its tools are offered from the last listing while the server is not running.
        assert again.status()[0].status == "idle" and again.healthy()
        assert "fx__add" in registered and "fx__add" in again.groups["group:mcp:fx"]
        assert await tool(again, "fx__add").run({"a": 1, "b": 2}, CTX) == "3"  # this starts it
        assert again.status()[0].status == "ready"
    finally:
        await again.aclose()

    moved = McpManager(McpSettings(servers=(stdio("fx", fixture_stdio_argv("--only-ten"), lazy=True),),
                                   cache_dir=tmp_path / "mcp"))
    assert moved._cached(moved.settings.servers[0]) is None  # another launch line: the old listing is not trusted
