from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest
from anyio.from_thread import start_blocking_portal

from rustyclaw.adapters.http.server import HttpServer

from .tool_forcing_proxy import ToolForcingProxy


class RunningProxy:
    def __init__(self, proxy: ToolForcingProxy, url: str) -> None:
        self.proxy = proxy
        self.url = url


@pytest.fixture(scope="module")
def forcing_proxy(llama_server: str) -> Iterator[RunningProxy]:
    """The tool-forcing proxy in front of the real llama.cpp server, served on its own loop."""
    with start_blocking_portal() as portal:
        proxy = ToolForcingProxy(llama_server)
        server = HttpServer(proxy, "127.0.0.1", 0)

        async def serve(task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
            await server.serve(lambda: task_status.started())

        portal.start_task(serve)
        try:
            yield RunningProxy(proxy, f"{server.url}/v1")
        finally:
            portal.call(server.aclose)
            portal.call(proxy.aclose)
