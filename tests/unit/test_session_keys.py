from __future__ import annotations

import pytest

from rustyclaw.domain.messages import InboundMessage
from rustyclaw.domain.session_keys import agent_of, session_key
from rustyclaw.domain.settings import SessionSettings


def dm(**kw: object) -> InboundMessage:
    base: dict[str, object] = {"channel": "telegram", "peer_id": "42", "sender_id": "42", "account": "acct1"}
    base.update(kw)
    return InboundMessage(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("dm_scope", "expected"),
    [
        ("main", "agent:main:main"),
        ("per-peer", "agent:main:direct:42"),
        ("per-channel-peer", "agent:main:telegram:direct:42"),
        ("per-account-channel-peer", "agent:main:telegram:acct1:direct:42"),
    ],
)
def test_direct_keys_follow_dm_scope(dm_scope: str, expected: str) -> None:
    settings = SessionSettings(dm_scope=dm_scope)  # type: ignore[arg-type]
    assert session_key(dm(), "main", settings) == expected


def test_groups_channels_and_threads_get_their_own_keys_whatever_the_dm_scope() -> None:
    settings = SessionSettings(dm_scope="main")
    assert session_key(dm(chat_kind="group", peer_id="-100"), "main", settings) == "agent:main:telegram:group:-100"
    assert (
        session_key(dm(chat_kind="channel", peer_id="c1", channel="discord"), "ops", settings)
        == "agent:ops:discord:channel:c1"
    )
    assert (
        session_key(dm(chat_kind="thread", peer_id="-100", thread_id="7"), "main", settings)
        == "agent:main:telegram:group:-100:thread:7"
    )


def test_main_key_name_is_configurable_and_global_scope_shares_one_session() -> None:
    assert session_key(dm(), "main", SessionSettings(main_key="home")) == "agent:main:home"
    glob = SessionSettings(scope="global")
    assert session_key(dm(), "a", glob) == session_key(dm(chat_kind="group", peer_id="g"), "a", glob)
    assert session_key(dm(), "a", glob) == "agent:a:global"


def test_session_hint_picks_an_own_session_per_user() -> None:
    settings = SessionSettings(dm_scope="main")
    msg = dm(channel="web", session_hint="alice")
    assert session_key(msg, "main", settings) == "agent:main:openai-user:alice"  # OpenClaw's HTTP key
    assert session_key(dm(channel="web", session_hint="main"), "main", settings) == "agent:main:main"


def test_agent_of_reads_the_agent_back() -> None:
    assert agent_of("agent:ops:telegram:group:1") == "ops"
    assert agent_of("cron:job1") == "main"


def test_cron_jobs_each_get_their_own_session() -> None:
    job = InboundMessage(channel="cron", peer_id="cron", sender_id="cron", session_hint="daily-digest")
    assert session_key(job, "main", SessionSettings()) == "agent:main:cron:daily-digest"
    assert session_key(job, "main", SessionSettings(scope="global")) == "agent:main:cron:daily-digest"
