"""The benchmark suite's own tools: HTTP framing of the load client, percentiles, the LLM stub, the
importtime parser and the floor checker."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import msgspec
import pytest

from benchmarks import check_floors, http_load, import_costs, stub_llm
from rustyclaw.adapters.llm.sse import SSEDecoder
from rustyclaw.adapters.llm.wire import StreamAssembler

# -- load client --------------------------------------------------------------------------------


def test_parse_response_content_length_and_leftover() -> None:
    raw = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhelloHTTP/1.1 404"
    consumed, response = http_load.parse_response(raw) or (0, None)
    assert response == http_load.Response(200, b"hello")
    assert raw[consumed:] == b"HTTP/1.1 404"


def test_parse_response_waits_for_the_whole_body() -> None:
    assert http_load.parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhel") is None
    assert http_load.parse_response(b"HTTP/1.1 200 OK\r\ncontent-le") is None


def test_parse_response_chunked() -> None:
    body = b"4\r\ndata\r\n6;ext=1\r\n: more\r\n0\r\n\r\n"
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    consumed, response = http_load.parse_response(raw) or (0, None)
    assert response == http_load.Response(200, b"data: more")
    assert consumed == len(raw)
    for cut in range(len(raw) - len(body), len(raw)):
        assert http_load.parse_response(raw[:cut]) is None, cut


def test_parse_response_refuses_unframed_bodies() -> None:
    with pytest.raises(http_load.ResponseError):
        http_load.parse_response(b"HTTP/1.1 200 OK\r\n\r\nbody")
    with pytest.raises(http_load.ResponseError):
        http_load.parse_response(b"garbage\r\n\r\n")


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert http_load.percentile(values, 50) == 50.0
    assert http_load.percentile(values, 99) == 99.0
    assert http_load.percentile(values, 100) == 100.0
    assert http_load.percentile([3.0, 1.0, 2.0], 50) == 2.0
    with pytest.raises(ValueError):
        http_load.percentile([], 50)


# -- stub LLM -----------------------------------------------------------------------------------


def _completion_body(stream: bool) -> bytes:
    return json.dumps({"model": "m1", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}).encode()


def test_stub_streams_a_reply_the_llm_adapter_assembles() -> None:
    state = stub_llm.StubState()
    raw = state.handle(b"POST", b"/v1/chat/completions", _completion_body(stream=True))
    consumed, response = http_load.parse_response(raw) or (0, None)
    assert response is not None and response.status == 200 and consumed == len(raw)
    decoder, assembler, done = SSEDecoder(), StreamAssembler(), False
    for line in response.body.decode().splitlines():
        event = decoder.feed(line)
        if event is not None:
            if event.data == "[DONE]":
                done = True
            else:
                assembler.add(msgspec.json.decode(event.data))
    assert done and assembler.finish_reason == "stop" and assembler.server_model == "m1"
    assert assembler.message().content == stub_llm.REPLY_TEXT


def test_stub_answers_whole_completions_and_records_bodies() -> None:
    state = stub_llm.StubState()
    body = _completion_body(stream=False)
    _, response = http_load.parse_response(state.handle(b"POST", b"/v1/chat/completions", body)) or (0, None)
    assert response is not None
    assert json.loads(response.body)["choices"][0]["message"]["content"] == stub_llm.REPLY_TEXT
    _, recorded = http_load.parse_response(state.handle(b"GET", b"/_stub/requests", b"")) or (0, None)
    assert recorded is not None and json.loads(recorded.body) == [json.loads(body)]
    state.handle(b"POST", b"/_stub/reset", b"")
    assert not state.requests
    _, missing = http_load.parse_response(state.handle(b"GET", b"/nope", b"")) or (0, None)
    assert missing is not None and missing.status == 404


def test_load_client_against_the_stub_over_tcp() -> None:
    async def scenario() -> tuple[list[float], list[float]]:
        state = stub_llm.StubState()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: stub_llm.StubProtocol(state), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        plan = [[http_load.chat_request("127.0.0.1", port, f"u{i}", "hi", stream=i % 2 == 0)] * 3 for i in range(4)]
        async with server:
            closed = await http_load.run_sessions("127.0.0.1", port, plan, concurrency=2)
            paced = await http_load.run_paced("127.0.0.1", port, plan, interval=0.02)
        assert len(state.requests) == 8  # the stub keeps the last eight bodies
        return closed, paced

    closed, paced = asyncio.run(scenario())
    assert len(closed) == len(paced) == 12
    assert all(latency > 0 for latency in closed + paced)


# -- importtime ---------------------------------------------------------------------------------

IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       100 |        100 |   _ssl
import time:       200 |        300 | ssl
import time:        50 |         50 |     pydantic_core
import time:        70 |        120 |   pydantic
import time:        30 |        150 | rustyclaw.config.base
import time:        10 |         10 |   json.decoder
import time:        20 |         30 | json
"""


def test_parse_importtime_links_children_to_parents() -> None:
    entries = import_costs.parse_importtime(IMPORTTIME)
    names = [e.name for e in entries]
    assert names == ["_ssl", "ssl", "pydantic_core", "pydantic", "rustyclaw.config.base", "json.decoder", "json"]
    parent = {e.name: (entries[e.parent].name if e.parent is not None else None) for e in entries}
    assert parent == {
        "_ssl": "ssl", "ssl": None, "pydantic_core": "pydantic", "pydantic": "rustyclaw.config.base",
        "rustyclaw.config.base": None, "json.decoder": "json", "json": None,
    }
    assert import_costs.importer_of(entries, names.index("pydantic_core")) == "rustyclaw.config.base"
    assert import_costs.importer_of(entries, names.index("_ssl")).startswith("(imported inside a function")
    assert import_costs.group_of("pydantic_core._pydantic_core") == "pydantic_core"
    assert import_costs.group_of("rustyclaw.config.base") == "rustyclaw.config.base"


# -- floors ---------------------------------------------------------------------------------------

FLOORS = {
    "ratios": {"speedup": {"slow": "test_x[py]", "fast": "test_x[c]", "min": 10}},
    "figures": {"rss": {"max": 60}, "tokens_left": {"min": 5}},
    "budgets": {"rss": {"max": 40}, "fast_ms": {"benchmark": "test_x[c]", "max_ms": 1}},
}


def _by_name(checks: list[check_floors.Check]) -> dict[tuple[str, str], check_floors.Check]:
    return {(c.kind, c.name): c for c in checks}


def test_floors_hold_and_budgets_are_only_reported() -> None:
    checks = _by_name(check_floors.evaluate(
        FLOORS, {"test_x[py]": 0.2, "test_x[c]": 0.002}, {"rss": 50.0, "tokens_left": 9.0}))
    assert checks[("ratio", "speedup")].ok and checks[("ratio", "speedup")].value == pytest.approx(100)
    assert checks[("figure", "rss")].ok and checks[("figure", "tokens_left")].ok
    assert not checks[("budget", "rss")].ok and not checks[("budget", "rss")].enforced
    assert not checks[("budget", "fast_ms")].ok  # 2 ms median over a 1 ms budget


def test_floors_fail_on_a_low_ratio_a_high_figure_and_missing_values() -> None:
    checks = _by_name(check_floors.evaluate(FLOORS, {"test_x[py]": 0.2, "test_x[c]": 0.05}, {"rss": 61.0}))
    assert not checks[("ratio", "speedup")].ok
    assert not checks[("figure", "rss")].ok
    assert not checks[("figure", "tokens_left")].ok and checks[("figure", "tokens_left")].value is None
    relaxed = _by_name(check_floors.evaluate(FLOORS, {}, {}, allow_missing=True))
    assert relaxed[("ratio", "speedup")].ok and relaxed[("figure", "rss")].ok


def test_check_floors_main_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    floors = tmp_path / "floors.json"
    floors.write_text(json.dumps(FLOORS))
    results = tmp_path / "latest.json"

    def write(c_median: float, rss: float) -> None:
        benchmarks = [{"name": n, "fullname": f"benchmarks/bench_x.py::{n}", "stats": {"median": m}}
                      for n, m in (("test_x[py]", 0.2), ("test_x[c]", c_median))]
        figures = {"figures": {"rss": {"value": rss}, "tokens_left": {"value": 7}}}
        results.write_text(json.dumps({"benchmarks": benchmarks, "figures": figures}))

    write(0.001, 45.0)
    assert check_floors.main([str(results), "--floors", str(floors)]) == 0
    assert "over the design budget" in capsys.readouterr().out
    write(0.1, 45.0)
    assert check_floors.main([str(results), "--floors", str(floors)]) == 1
    assert "FAILED: 1 floor(s) not met: speedup" in capsys.readouterr().out
    results.write_text("not json")
    assert check_floors.main([str(results), "--floors", str(floors)]) == 2


def test_the_committed_floors_name_real_benchmarks() -> None:
    """Every ratio in benchmarks/floors.json names a benchmark that bench_*.py defines (a test
    function, or a name a module sets with ``benchmark.name = f"<name>[...]"``)."""
    root = Path(check_floors.__file__).parent
    floors = json.loads((root / "floors.json").read_text())
    sources = "".join(p.read_text() for p in root.glob("bench_*.py"))
    for name, spec in floors["ratios"].items():
        for side in ("slow", "fast"):
            function = spec[side].split("[", 1)[0]
            assert f"def {function}(" in sources or f'"{function}[' in sources, (name, spec[side])
