"""The history cache under replicas: two SessionServices (two gateway processes) on one store.

Found by tests/e2e/test_replicas_load.py's kind of load (round robin over replicas): a replica that
had a session cached gave the model that cached transcript, without the turns another replica made
since (they were in the store, not in its cache). With `shared=True` each `history()` reads what
the store holds past the cached end.
"""

from __future__ import annotations

import pytest

from rustyclaw.adapters.storage.memory import MemoryData, MemoryStore
from rustyclaw.domain.messages import ChatMessage, InboundMessage
from rustyclaw.domain.sessions import SessionService
from rustyclaw.domain.settings import SessionSettings
from tests.unit.fakes import FakeClock

pytestmark = pytest.mark.anyio

KEY = "agent:main:web:direct:s1"
MESSAGE = InboundMessage(channel="web", peer_id="s1", sender_id="s1", text="hi")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def replicas(shared: bool) -> tuple[SessionService, SessionService]:
    data = MemoryData()  # one database, two processes' stores on it
    first, second = MemoryStore(data), MemoryStore(data)
    await first.start()
    await second.start()
    clock = FakeClock()
    return (SessionService(first, clock, SessionSettings(), shared=shared),
            SessionService(second, clock, SessionSettings(), shared=shared))


def texts(messages: list[ChatMessage]) -> list[str]:
    return [m.content for m in messages]


async def test_a_replica_sees_the_turns_another_replica_appended_after_it_cached_the_session() -> None:
    a, b = await replicas(shared=True)
    entry = await a.open(KEY, MESSAGE)
    await a.append(entry, [ChatMessage(role="user", content="m0"), ChatMessage(role="assistant", content="ok0")])
    assert texts(await a.history(entry)) == ["m0", "ok0"]  # cached on a now

    on_b = await b.open(KEY, MESSAGE)
    assert texts(await b.history(on_b)) == ["m0", "ok0"]
    await b.append(on_b, [ChatMessage(role="user", content="m1"), ChatMessage(role="assistant", content="ok1")])

    assert texts(await a.history(entry)) == ["m0", "ok0", "m1", "ok1"]
    await a.append(entry, [ChatMessage(role="user", content="m2")])
    assert texts(await a.history(entry)) == ["m0", "ok0", "m1", "ok1", "m2"]  # its own append, once
    assert texts(await b.history(on_b)) == ["m0", "ok0", "m1", "ok1", "m2"]


async def test_a_turn_that_appends_before_reading_keeps_the_order_of_the_store() -> None:
    # A turn stores the user's message first, then reads the history for the prompt: a stale cache
    # extended by that append would hold m2 where m1 is and read m1, ok1 and m2 again after it.
    a, b = await replicas(shared=True)
    entry = await a.open(KEY, MESSAGE)
    await a.append(entry, [ChatMessage(role="user", content="m0"), ChatMessage(role="assistant", content="ok0")])
    assert texts(await a.history(entry)) == ["m0", "ok0"]  # cached on a now
    on_b = await b.open(KEY, MESSAGE)
    await b.append(on_b, [ChatMessage(role="user", content="m1"), ChatMessage(role="assistant", content="ok1")])
    await a.append(entry, [ChatMessage(role="user", content="m2")])
    assert texts(await a.history(entry)) == ["m0", "ok0", "m1", "ok1", "m2"]
    assert texts(await a.history(entry)) == texts(await b.store.load_messages(entry))


async def test_without_shared_a_process_keeps_its_cached_transcript() -> None:
    # One gateway per store (the default): nothing else appends, so no read per turn is spent.
    a, b = await replicas(shared=False)
    entry = await a.open(KEY, MESSAGE)
    await a.append(entry, [ChatMessage(role="user", content="m0")])
    assert texts(await a.history(entry)) == ["m0"]
    on_b = await b.open(KEY, MESSAGE)
    await b.append(on_b, [ChatMessage(role="user", content="m1")])
    assert texts(await a.history(entry)) == ["m0"]
