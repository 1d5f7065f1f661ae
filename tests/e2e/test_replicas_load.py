"""Issue #16 under load: three `rustyclaw serve` replicas (each its own state folder, one PostgreSQL
schema, `gateway.replicas` on) behind a round-robin client that sends 1,000 messages over 50
sessions to `POST /api/chat`; the leader is killed with SIGKILL mid-load.

What a load balancer does is what the client does: each request goes to the next replica in turn;
a request that fails (the replica died under it, or refuses connections now) is sent again to the
next one. Sessions are sequential (a person waits for the answer before writing again), the
sessions run concurrently, at most CONCURRENCY requests in flight.

Checked afterwards, from the PostgreSQL store through the store API:
- every message was acknowledged (HTTP 200) once the client was done, and only requests to the
  killed replica failed;
- each session's transcript holds the messages in the order sent, each followed by one answer;
- every message, retried or not, is stored once and answered once: each carries an
  `Idempotency-Key` (one per message, the same on every attempt), so a retry of a message the
  killed replica had stored (even answered) finishes or replays that turn instead of storing it
  again (adapters/http/idempotency.py);
- the model saw each session's whole conversation so far in every prompt, whichever replica served
  the turn (a replica's history cache must not hide the turns another replica made), each message once.

Leader duties: the Telegram polling (the Bot API emulator the other replicas test uses) and cron
move to another replica: its `/readyz` says it leads (term 2), Telegram is connected there, its log
shows the new term and a cron run; a Telegram message after the kill is answered, and the stored
Telegram session holds the messages before and after the kill once each, with one answer each. Every wait
is for a condition, bounded so that a bug fails instead of hanging; no duration is asserted (the
failover time is measured in benchmarks/bench_replicas.py).
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from rustyclaw.adapters.storage.postgres import PostgresStore
from tests.e2e.gateway_process import GatewayProcess, write_config
from tests.e2e.gateway_process import wait_for as wait_within
from tests.fixtures.llm_servers import LLMockServer
from tests.fixtures.postgres_schema import temporary_schema_sync
from tests.fixtures.telegram_emulator import TelegramEmulator, telegram_emulator, telegram_token

__all__ = ["telegram_emulator", "telegram_token"]

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SESSIONS = 50
PER_SESSION = 20  # 50 x 20 = 1,000 messages
CONCURRENCY = 16
KILL_AFTER = 350  # acknowledged messages before the leader is killed: mid-load
USER = 4646
BOUND = 120.0  # a hang guard for each wait, not an expectation
ATTEMPTS = 5  # per message; more would only hide a replica that keeps failing


def wait_for(what: str, condition: Callable[[], bool], *logs: GatewayProcess) -> None:
    wait_within(what, condition, *logs, bound=BOUND)  # this test's longer hang guard


@pytest.fixture
def schema_dsn() -> Iterator[str]:
    with temporary_schema_sync("load") as dsn:
        yield dsn


def readyz(gateway: GatewayProcess) -> dict[str, Any]:
    try:
        body: dict[str, Any] = httpx.get(f"{gateway.url}/readyz", timeout=5).json()
    except httpx.HTTPError:
        return {}
    return body


def leads(gateway: GatewayProcess) -> bool:
    return bool(readyz(gateway).get("replicas", {}).get("leader"))


def cron_runs(gateway: GatewayProcess) -> int:
    """Runs of the `tick` job this replica made (its own log; the run history is shared)."""
    return gateway.log_path.read_text(errors="replace").count("cron job tick: done")


def text_of(session: int, n: int) -> str:
    return f"s{session:02d}-m{n:02d}"


@dataclass
class Load:
    """What the round-robin client saw."""

    acknowledged: dict[str, int] = field(default_factory=dict)  # text -> attempts it took
    failures: list[str] = field(default_factory=list)  # one line per failed attempt
    unanswered: list[str] = field(default_factory=list)  # gave up after ATTEMPTS


async def run_load(urls: list[str], on_ack: Callable[[int], None]) -> Load:
    load = Load()
    turn = 0
    down: set[str] = set()  # a load balancer's passive health check: a replica that failed is left out
    limit = anyio.Semaphore(CONCURRENCY)

    def next_url() -> str:
        nonlocal turn
        up = [url for url in urls if url not in down] or urls
        turn += 1
        return up[turn % len(up)]

    async def send(client: httpx.AsyncClient, session: int, text: str) -> None:
        body = {"message": text, "session": f"load-{session:02d}"}
        # One key per message, the same on every attempt: what makes the retries safe.
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        for attempt in range(1, ATTEMPTS + 1):
            url = next_url()
            try:
                async with limit:
                    response = await client.post(f"{url}/api/chat", json=body, headers=headers)
            except httpx.TransportError as exc:  # the replica died under the request, or is gone
                down.add(url)
                load.failures.append(f"{text} attempt {attempt} at {url}: {type(exc).__name__}")
                continue
            if response.status_code != 200:
                load.failures.append(f"{text} attempt {attempt} at {url}: HTTP {response.status_code} "
                                     f"{response.text[:200]}")
                continue
            assert response.json()["reply"] == "ok", response.text
            load.acknowledged[text] = attempt
            on_ack(len(load.acknowledged))
            return
        load.unanswered.append(text)

    async def conversation(client: httpx.AsyncClient, session: int) -> None:
        for n in range(PER_SESSION):
            await send(client, session, text_of(session, n))

    # Retries are the client's own (one attempt per replica turn); httpx retries nothing itself.
    limits = httpx.Limits(max_connections=CONCURRENCY * len(urls), max_keepalive_connections=CONCURRENCY * len(urls))
    async with httpx.AsyncClient(timeout=httpx.Timeout(60.0), limits=limits) as client, \
            anyio.create_task_group() as tg:
        for session in range(SESSIONS):
            tg.start_soon(conversation, client, session)
    return load


async def stored_conversations(dsn: str) -> dict[int | str, list[tuple[str, str]]]:
    """Each load session's transcript from PostgreSQL, (role, text) of user and assistant messages,
    by load session number; the Telegram user's under "telegram"."""
    store = PostgresStore(dsn)
    await store.start()
    try:
        found: dict[int | str, list[tuple[str, str]]] = {}
        for entry in await store.list_sessions():
            messages: list[tuple[str, str]] = [
                (m.role, str(m.content or "")) for m in await store.load_messages(entry)
                if m.role in ("user", "assistant")
            ]
            users = [text for role, text in messages if role == "user"]
            if "before" in users:  # the Telegram DM's session (a main-style key by default)
                assert "telegram" not in found, "two stored Telegram sessions"
                found["telegram"] = messages
            elif users and all(text.startswith("s") and "-m" in text for text in users):
                session = int(users[0][1:3])
                assert session not in found, f"two stored sessions for load session {session}"
                found[session] = messages
        return found
    finally:
        await store.aclose()


def test_three_replicas_answer_a_thousand_messages_once_through_a_leader_kill(
    tmp_path: Path, mock_llm: LLMockServer, schema_dsn: str, telegram_emulator: TelegramEmulator,
    telegram_token: str,
) -> None:
    mock_llm.reply("ok", times=None)
    gateways: list[GatewayProcess] = []
    for name in ("a", "b", "c"):
        state = tmp_path / name / "state"
        state.mkdir(parents=True)
        config = write_config(
            tmp_path / name / "config.yaml", state, mock_llm.base_url, "m",
            gateway={"replicas": {"enabled": True}},  # the default lease (6 s): the 10 s bound
            storage={"backend": "postgres", "postgres": {"dsn": schema_dsn}},
            cron={"jobs": [{"id": "tick", "schedule": {"every": "1s"}, "message": "Tick."}]},
            channels={"telegram": {"enabled": True, "botToken": telegram_token,
                                   "apiBaseUrl": telegram_emulator.base_url, "dmPolicy": "open",
                                   "allowFrom": ["*"]}},
        )
        gateways.append(GatewayProcess(config, tmp_path / name))
    a, b, c = gateways

    def telegram(gateway: GatewayProcess) -> Any:
        return readyz(gateway).get("channels", {}).get("telegram")

    async def telegram_answer(text: str) -> list[str]:
        await telegram_emulator.user_message(telegram_token, text, user_id=USER)
        return await telegram_emulator.wait_bot_texts(telegram_token, USER, 1, within=BOUND)

    killed_at: list[int] = []

    def kill_leader_mid_load(acknowledged: int) -> None:
        if acknowledged >= KILL_AFTER and not killed_at:
            assert a.process is not None
            a.process.send_signal(signal.SIGKILL)  # no release: the lease must expire first
            killed_at.append(acknowledged)

    try:
        a.start()
        wait_for("a leads", lambda: leads(a), a)
        b.start()
        c.start()
        assert not leads(b) and not leads(c)
        assert telegram(a) == {"state": "connected"} and telegram(b) == telegram(c) == {"state": "standby"}
        wait_for("a's cron runs", lambda: cron_runs(a) >= 1, a)
        assert anyio.run(telegram_answer, "before") == ["ok"]

        load = anyio.run(run_load, [g.url for g in gateways], kill_leader_mid_load)
        assert killed_at, "the load ended before the leader was killed"
        assert a.process is not None
        a.process.wait(timeout=15)

        # -- leader duties moved ------------------------------------------------------------------
        wait_for("b or c leads", lambda: leads(b) or leads(c), b, c)
        new, other = (b, c) if leads(b) else (c, b)
        assert readyz(new)["replicas"] == {"leader": True, "term": 2}
        assert not leads(other)
        assert "leads 'gateway', term 2" in new.log_path.read_text(errors="replace")
        wait_for("Telegram polled by the new leader", lambda: telegram(new) == {"state": "connected"}, new)
        assert telegram(other) == {"state": "standby"}
        wait_for("the new leader's cron runs", lambda: cron_runs(new) >= 1, new)
        assert cron_runs(other) == 0
        assert anyio.run(telegram_answer, "after") == ["ok"]  # a second answer would be listed too

        # -- every message answered once, stored once, in order -------------------------------------
        assert not load.unanswered, f"never acknowledged: {load.unanswered}\n" + "\n".join(load.failures[-20:])
        assert len(load.acknowledged) == SESSIONS * PER_SESSION
        # Only the killed replica failed requests: b and c answered every one sent to them.
        assert all(f" at {a.url}: " in line for line in load.failures), load.failures
        retried = {text for text, attempts in load.acknowledged.items() if attempts > 1}
        conversations = anyio.run(stored_conversations, schema_dsn)
        # The new leader took up the polling offset: neither Telegram message was handled twice.
        assert conversations.pop("telegram") == [("user", "before"), ("assistant", "ok"),
                                                 ("user", "after"), ("assistant", "ok")]
        assert sorted(conversations, key=int) == list(range(SESSIONS))
        for session, messages in conversations.items():
            assert isinstance(session, int)
            sent = [text_of(session, n) for n in range(PER_SESSION)]
            # Each stored user message with the number of assistant messages up to the next one.
            copies: list[tuple[str, int]] = []
            for role, text in messages:
                if role == "user":
                    copies.append((text, 0))
                elif copies:
                    copies[-1] = (copies[-1][0], copies[-1][1] + 1)
            # Stored once each, in order, retried or not; and answered once each.
            assert [text for text, _ in copies] == sent, f"session {session}: {copies}"
            assert all(n == 1 for _, n in copies), f"session {session}: answers {copies}"
        # -- and the model saw each session's whole conversation, whichever replica served a turn --
        prompts = 0
        for body in mock_llm.chat_bodies():
            users = [str(m.get("content")) for m in body["messages"] if m.get("role") == "user"]
            if not users or not users[-1].startswith("s") or "-m" not in users[-1]:
                continue  # Telegram, cron
            prompts += 1
            session, last = int(users[-1][1:3]), int(users[-1].rsplit("-m", 1)[1])
            assert users == [text_of(session, n) for n in range(last + 1)], f"prompt of {users[-1]}: {users}"
        assert prompts >= SESSIONS * PER_SESSION
        kinds = sorted({line.rsplit(": ", 1)[-1].split(" ")[0] for line in load.failures})
        print(
            f"\nload: {len(load.acknowledged)} acknowledged, leader killed after {killed_at[0]}, "
            f"{len(load.failures)} failed attempts ({', '.join(kinds)}), {len(retried)} messages retried "
            f"(each stored and answered once)"
        )
    finally:
        for gateway in gateways:
            if gateway.process is not None and gateway.process.poll() is None:
                gateway.stop()
