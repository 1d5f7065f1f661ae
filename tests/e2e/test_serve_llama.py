"""`rustyclaw serve` end to end: web channel -> core -> real llama.cpp -> SQLite, across a restart."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import httpx
import pytest

from .conftest import RunningProxy
from .gateway_process import GatewayProcess, write_config
from .tool_forcing_proxy import streamed_text_deltas

pytestmark = [pytest.mark.llama, pytest.mark.slow]


def chat(url: str, text: str, user: str, *, stream: bool = False) -> httpx.Response:
    body = {"model": "rustyclaw/main", "user": user, "stream": stream,
            "messages": [{"role": "user", "content": text}]}
    return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=300)


def stored_rows(db: Path) -> list[tuple[str, str, str | None, str | None]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT m.role, m.content, m.tool_calls, m.tool_call_id FROM messages m "
            "JOIN sessions s ON s.session_id = m.session_id WHERE s.key = ? ORDER BY m.seq",
            ("agent:main:openai-user:alice",),
        ).fetchall()


def test_streamed_reply_and_tool_round_trip_persist_across_a_restart(
    tmp_path: Path, forcing_proxy: RunningProxy, llama_model: str
) -> None:
    state = tmp_path / "state"
    config = write_config(tmp_path / "rustyclaw.yaml", state, forcing_proxy.url, llama_model)
    gateway = GatewayProcess(config, tmp_path).start()
    try:
        # 1. A streamed reply: several content chunks in OpenAI's SSE shape, then [DONE].
        body = {"model": "rustyclaw/main", "user": "alice", "stream": True,
                "messages": [{"role": "user", "content": "Say hello to Alice."}]}
        with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", json=body, timeout=300) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            data = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
        assert data[-1] == "[DONE]"
        chunks = [json.loads(d) for d in data[:-1]]
        pieces = [c["choices"][0]["delta"].get("content") or "" for c in chunks]
        # Streamed as the model wrote it: one piece per delta of llama.cpp's own stream, however
        # many the model chose to write (the wording and length are the model's, not under test).
        upstream = streamed_text_deltas(forcing_proxy.proxy.responses[0])
        assert upstream and [p for p in pieces if p] == upstream
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
        # The model got our lean prompt as plain strings (llama.cpp templates need that).
        first = forcing_proxy.proxy.requests[0]
        assert all(isinstance(m["content"], str) for m in first["messages"])
        assert first["messages"][0]["role"] == "system"

        # 2. A tool round trip: the real server emits a grammar-constrained call, the gateway runs
        #    session_status and sends the result back, the model answers.
        forcing_proxy.proxy.force_next = "session_status"
        seen = len(forcing_proxy.proxy.requests)
        response = chat(gateway.url, "What is my session status?", "alice")
        assert response.status_code == 200, response.text
        answer = response.json()["choices"][0]["message"]["content"]
        assert isinstance(answer, str)
        turn = forcing_proxy.proxy.requests[seen:]
        assert len(turn) == 2 and "tool_choice" in turn[0] and "tool_choice" not in turn[1]
        tool_result = turn[1]["messages"][-1]
        assert tool_result["role"] == "tool"
        assert "session=agent:main:openai-user:alice" in tool_result["content"]
        call = turn[1]["messages"][-2]["tool_calls"][0]
        assert call["function"]["name"] == "session_status" and tool_result["tool_call_id"] == call["id"]
    finally:
        assert gateway.stop() == 0, gateway.log()

    rows = stored_rows(state / "rustyclaw.db")
    assert [r[0] for r in rows] == ["user", "assistant", "user", "assistant", "tool", "assistant"]
    assert rows[0][1] == "Say hello to Alice." and rows[2][1] == "What is my session status?"
    assert rows[3][2] is not None and "session_status" in rows[3][2]
    assert rows[4][3] is not None

    # 3. After a restart the history is still there and is sent with the next turn.
    again = GatewayProcess(config, tmp_path).start()
    try:
        seen = len(forcing_proxy.proxy.requests)
        response = chat(again.url, "Thanks!", "alice")
        assert response.status_code == 200, response.text
        sent = [m["content"] for m in forcing_proxy.proxy.requests[seen]["messages"]]
        assert "Say hello to Alice." in sent and "What is my session status?" in sent
        listing = again.cli("sessions", "list")
        assert "agent:main:openai-user:alice" in listing.stdout, listing.stderr
        shown = again.cli("sessions", "show", "agent:main:openai-user:alice")
        assert "session_status" in shown.stdout and "Thanks!" in shown.stdout
    finally:
        assert again.stop() == 0, again.log()
