"""Fuzzing session-key building: any ids give a key of the agent, deterministic, one line, and
distinct peers never share a key under a per-peer scope."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rustyclaw.domain.messages import InboundMessage
from rustyclaw.domain.session_keys import agent_of, session_key
from rustyclaw.domain.settings import SessionSettings
from tests.fuzz.conftest import FUZZ

ids = st.text(min_size=1, max_size=40)
scopes = st.sampled_from(["main", "per-peer", "per-channel-peer", "per-account-channel-peer"])
kinds = st.sampled_from(["direct", "group", "channel", "thread"])
agents = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,10}", fullmatch=True)


@FUZZ
@given(ids, ids, ids, ids, kinds, st.none() | ids, agents, scopes, st.sampled_from(["per-sender", "global"]))
def test_keys_belong_to_their_agent_and_are_stable(
    channel: str, account: str, peer: str, sender: str, kind: str, thread: str | None, agent: str,
    dm_scope: str, scope: str,
) -> None:
    settings = SessionSettings(scope=scope, dm_scope=dm_scope)  # type: ignore[arg-type]
    message = InboundMessage(channel=channel, account=account, peer_id=peer, sender_id=sender,
                             chat_kind=kind, thread_id=thread)  # type: ignore[arg-type]
    key = session_key(message, agent, settings)
    assert key.startswith(f"agent:{agent}:") and agent_of(key) == agent
    assert key == session_key(message, agent, settings)


@FUZZ
@given(ids, ids, ids, st.sampled_from(["per-peer", "per-channel-peer", "per-account-channel-peer"]))
def test_distinct_direct_peers_never_share_a_session(channel: str, peer_a: str, peer_b: str, dm_scope: str) -> None:
    if peer_a == peer_b:
        return
    settings = SessionSettings(dm_scope=dm_scope)  # type: ignore[arg-type]
    a = InboundMessage(channel=channel, peer_id=peer_a, sender_id=peer_a)
    b = InboundMessage(channel=channel, peer_id=peer_b, sender_id=peer_b)
    assert session_key(a, "main", settings) != session_key(b, "main", settings)
