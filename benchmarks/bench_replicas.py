"""`gateway.replicas` (issue #16): throughput and p99 with 1, 2 and 3 replicas, and failover time.

Three `rustyclaw serve` processes (each its own state folder, one PostgreSQL schema, replicas on,
the default 6 s lease) on the instant LLM stub. The same load goes through the first 1, 2 and 3 of
them: 50 sessions x 10 messages (`POST /v1/chat/completions` with `user`), 16 sessions at a time
(closed loop), each session's messages in order, each request sent to the next replica in turn (a
round-robin load balancer) or, in the `_sticky` modes, each session kept on one replica (session
affinity). Two interleaved passes, the best of each mode kept. On 2 cores the ratio against the
1-replica run of the same module is what means something, not the absolute figure: the replicas,
PostgreSQL, the stub and this client share the two cores, so a second replica can only add what
one gateway left of them. The gateways' CPU per request (all three processes, utime + stime) moves
less with the machine's other work. Floors (floors.json), both wide: `replicas_2_vs_1_throughput`
>= 0.25 (a collapse such as replicas serialising on each other) and
`replicas_3_vs_1_cpu_per_request` <= 3 (such as waiters spinning); the rest is reported.

Failover: `kill -9` of the leader, then the time until another replica's `/readyz` shows a newer
term (`replicas.leader` true). The lease must expire first (6 s), plus at most one renewal interval
of the follower (2 s): the issue asks for a takeover within 10 s. Reported, never gated (a time).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from benchmarks import http_load
from benchmarks.figures import Figures
from benchmarks.processes import ServeProcess, StubLLM, write_config
from tests.fixtures.postgres_schema import temporary_schema_sync

pytestmark = pytest.mark.postgres

REPLICAS = 3
SESSIONS = 50
PER_SESSION = 10
PASSES = 2
CONCURRENCY = 16
HOST = "127.0.0.1"
FAILOVER_BOUND = 60.0  # a hang guard: a takeover that never comes fails instead of hanging


@pytest.fixture(scope="module")
def replica_schema() -> Iterator[str]:
    with temporary_schema_sync("bench_replicas") as dsn:
        yield dsn


def readyz(serve: ServeProcess) -> dict[str, Any]:
    """The `/readyz` body, or {} when the replica does not answer (killed)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{HOST}:{serve.port}/readyz", timeout=2) as response:
            body: dict[str, Any] = json.loads(response.read())
    except (OSError, urllib.error.URLError, ValueError):
        return {}
    return body


def gateways_cpu_s(gateways: Sequence[ServeProcess]) -> float:
    """User + system CPU seconds the live gateway processes used so far (`/proc/<pid>/stat`)."""
    import os

    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for serve in gateways:
        if serve.process is None or serve.process.poll() is not None:
            continue
        with open(f"/proc/{serve.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14, 15 of stat)
    return total


def replicas_field(serve: ServeProcess) -> dict[str, Any]:
    found: dict[str, Any] = readyz(serve).get("replicas") or {}
    return found


@pytest.fixture(scope="module")
def replica_gateways(
    gateway_stub_llm: StubLLM, replica_schema: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[ServeProcess]]:
    gateways: list[ServeProcess] = []
    try:
        for n in range(REPLICAS):
            home = tmp_path_factory.mktemp(f"replica{n}")
            config = write_config(home, gateway_stub_llm.base_url, gateway={"replicas": {"enabled": True}},
                                  storage={"backend": "postgres", "postgres": {"dsn": replica_schema}})
            serve = ServeProcess(config, home)
            serve.start()
            gateways.append(serve)
        # The first one up leads (ready means its first election round is over).
        assert replicas_field(gateways[0]).get("leader") is True, gateways[0].log()
        for serve in gateways:  # warm-up: tokenizer, LLM client, pool connections of every replica
            http_load.chat_load(HOST, serve.port, sessions=8, per_session=5, concurrency=8, stream=False,
                                prefix=f"warm-{serve.port}")
        yield gateways
    finally:
        for serve in gateways:
            if serve.process is not None and serve.process.poll() is None:
                serve.stop()


async def balanced(ports: Sequence[int], prefix: str, *, sticky: bool) -> list[float]:
    """SESSIONS x PER_SESSION requests, CONCURRENCY sessions at a time, over the replicas on `ports`.

    Round robin (not `sticky`): each request goes to the next replica in turn, so a session's turns
    land on different replicas. `sticky`: a session stays on one replica (a load balancer's session
    affinity), so that replica's history cache holds the session. Each worker keeps a keep-alive
    connection to every replica; a session waits for each answer before its next message."""
    turn = itertools.count()
    waiting = iter(range(SESSIONS))

    async def worker() -> list[float]:
        connections = [await http_load.Connection.open(HOST, port) for port in ports]
        latencies: list[float] = []
        try:
            for session in waiting:
                for n in range(PER_SESSION):
                    index = session % len(ports) if sticky else next(turn) % len(ports)
                    data = http_load.chat_request(HOST, ports[index], f"{prefix}-{session}", f"m{n}", stream=False)
                    started = time.perf_counter()
                    response = await connections[index].request(data)
                    latencies.append(time.perf_counter() - started)
                    if response.status != 200:
                        raise http_load.ResponseError(f"HTTP {response.status}: {response.body[:300]!r}")
        finally:
            for connection in connections:
                connection.close()
        return latencies

    results = await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return [latency for latencies in results for latency in latencies]


# (name, replicas, sticky); "1" is the baseline every ratio is against.
MODES: tuple[tuple[str, int, bool], ...] = (
    ("1", 1, False), ("2", 2, False), ("3", 3, False), ("2_sticky", 2, True), ("3_sticky", 3, True),
)


def test_replicas_throughput_and_p99(
    benchmark: Any, replica_gateways: list[ServeProcess], figures: Figures
) -> None:
    ports = [serve.port for serve in replica_gateways]
    passes: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in MODES}

    def load(name: str, count: int, sticky: bool, round_: int) -> None:
        async def run() -> list[float]:
            return await balanced(ports[:count], f"p{round_}-{name}", sticky=sticky)

        cpu_before = gateways_cpu_s(replica_gateways)
        started = time.perf_counter()
        latencies = http_load.run_async(run)
        wall = time.perf_counter() - started
        cpu = gateways_cpu_s(replica_gateways) - cpu_before
        assert len(latencies) == SESSIONS * PER_SESSION
        passes[name].append({
            "requests_per_s": round(len(latencies) / wall, 1),
            "p50_ms": round(1000 * http_load.percentile(latencies, 50), 3),
            "p99_ms": round(1000 * http_load.percentile(latencies, 99), 3),
            "gateway_cpu_ms_per_request": round(1000 * cpu / len(latencies), 3),
        })

    def measure() -> None:
        # Interleaved passes, so that a burst of other work on the shared machine hits every mode
        # alike instead of one; the best pass of each mode is kept (other work only slows a pass).
        for round_ in range(PASSES):
            for name, count, sticky in MODES:
                load(name, count, sticky, round_)

    benchmark.pedantic(measure, rounds=1, iterations=1)
    runs = {name: max(found, key=lambda r: r["requests_per_s"]) for name, found in passes.items()}
    base = runs["1"]
    for name, run in runs.items():
        figures.detail(f"replicas_{name}", {**run, "passes": passes[name]})
        benchmark.extra_info[f"replicas_{name}"] = {**run, "passes": passes[name]}
        if name == "1":
            continue
        throughput = run["requests_per_s"] / base["requests_per_s"]
        p99 = run["p99_ms"] / base["p99_ms"]
        figures.record(f"replicas_{name}_vs_1_throughput", throughput, "x",
                       note=f"{run['requests_per_s']} vs {base['requests_per_s']} requests/s (best of {PASSES})")
        figures.record(f"replicas_{name}_vs_1_p99", p99, "x", note=f"p99 {run['p99_ms']} vs {base['p99_ms']} ms")
        # CPU per request moves far less with the machine's other work than throughput does: it
        # shows what a replica costs itself (a session's turns on several replicas, lease upkeep).
        cpu = min(r["gateway_cpu_ms_per_request"] for r in passes[name]) / min(
            r["gateway_cpu_ms_per_request"] for r in passes["1"])
        figures.record(f"replicas_{name}_vs_1_cpu_per_request", cpu, "x",
                       note="all three gateways' CPU per request, lowest of the passes")
        benchmark.extra_info[f"replicas_{name}_vs_1_cpu_per_request"] = round(cpu, 3)
        benchmark.extra_info[f"replicas_{name}_vs_1_throughput"] = round(throughput, 3)
        benchmark.extra_info[f"replicas_{name}_vs_1_p99"] = round(p99, 3)
    print(f"\nreplicas   requests/s  p50 ms   p99 ms   throughput/1  p99/1  gateway CPU ms/request"
          f"   (best of {PASSES} passes)")
    for name, run in runs.items():
        print(f"{name:>9}  {run['requests_per_s']:>10.1f}  {run['p50_ms']:>7.2f}  {run['p99_ms']:>7.2f}  "
              f"{run['requests_per_s'] / base['requests_per_s']:>12.2f}  {run['p99_ms'] / base['p99_ms']:>5.2f}  "
              f"{run['gateway_cpu_ms_per_request']:>8.2f}")


def test_replicas_failover(benchmark: Any, replica_gateways: list[ServeProcess], figures: Figures) -> None:
    leader, *others = replica_gateways
    term = replicas_field(leader).get("term")
    assert isinstance(term, int), replicas_field(leader)
    process = leader.process
    assert process is not None
    elapsed: list[float] = []

    def kill_and_wait() -> None:
        killed = time.perf_counter()
        process.send_signal(signal.SIGKILL)  # no release: the lease must expire
        while True:
            for serve in others:
                field = replicas_field(serve)
                if field.get("leader") is True and (field.get("term") or 0) > term:
                    elapsed.append(time.perf_counter() - killed)
                    return
            if time.perf_counter() - killed > FAILOVER_BOUND:
                raise AssertionError("no replica took the lease:\n" + "\n".join(s.log() for s in others))
            time.sleep(0.02)  # the poll's period: the figure's resolution

    benchmark.pedantic(kill_and_wait, rounds=1, iterations=1)
    process.wait(timeout=15)
    figures.record("replicas_failover_s", elapsed[0], "s", 10.0,
                   "kill -9 of the leader until another replica's /readyz shows the next term (lease 6 s)")
    benchmark.extra_info["failover_s"] = round(elapsed[0], 3)
    print(f"\nfailover: {elapsed[0]:.2f} s from kill -9 to the next leader's term on /readyz (lease 6 s)")
