"""A voice note through the gateway: heard as the user's text, spoken commands, `/tts`, spoken replies.

The voice models are real; the LLM is the domain tests' scripted fake (the model is not under test).
"""

from __future__ import annotations

import numpy as np
import pytest

from rustyclaw.adapters.storage.memory import MemoryStore
from rustyclaw.adapters.voice.service import VoiceNoteService
from rustyclaw.domain.agent import AgentRunner
from rustyclaw.domain.context import ContextBuilder
from rustyclaw.domain.gateway import Gateway
from rustyclaw.domain.messages import Attachment, InboundMessage
from rustyclaw.domain.prompt import PromptBuilder
from rustyclaw.domain.sessions import SessionService
from rustyclaw.domain.settings import AgentSettings, SessionSettings
from rustyclaw.domain.tools import ToolRegistry
from tests.unit.fakes import DictWorkspace, FakeClock, ScriptedLLM, Step, WordTokenizer

from .voice_kit import SENTENCE, decode_ogg, service, wav_bytes, words

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _gateway(voice: VoiceNoteService, answers: list[str]) -> tuple[Gateway, ScriptedLLM]:
    store = MemoryStore()
    await store.start()
    clock = FakeClock()
    llm = ScriptedLLM([Step(text=a) for a in answers])
    settings = AgentSettings(context_tokens=4000, max_completion_tokens=200)
    runner = AgentRunner(llm, ToolRegistry(), ContextBuilder(WordTokenizer(), settings.pruning), clock,
                         context_tokens=4000, max_completion_tokens=200, max_iterations=4)
    sessions = SessionService(store, clock, SessionSettings())
    gateway = Gateway(sessions, runner, PromptBuilder(DictWorkspace({})), llm, clock, settings, voice=voice)
    return gateway, llm


def _message(text: str = "", note: Attachment | None = None) -> InboundMessage:
    return InboundMessage(channel="telegram", peer_id="u1", sender_id="u1", text=text,
                          attachments=(note,) if note else ())


async def test_voice_in_is_the_users_text_and_the_answer_comes_back_as_a_voice_note() -> None:
    voice = service(auto="inbound")
    gateway, llm = await _gateway(voice, ["Sure, I will remind you.", "Noted."])
    reply = await gateway.handle(_message(note=await voice.speak(SENTENCE)))
    assert reply is not None and reply.text == "Sure, I will remind you."
    assert words(reply.transcript or "") == words(SENTENCE)
    assert words(llm.requests[-1].messages[-1].content) == words(SENTENCE)
    (note,) = reply.attachments
    assert note.kind == "voice" and note.mime == "audio/ogg"
    codec, rate, seconds, _ = decode_ogg(note.data or b"")
    assert (codec, rate) == ("opus", 48000) and seconds > 0.8
    # Typed text in inbound mode gets a text answer only.
    typed = await gateway.handle(_message("thanks"))
    assert typed is not None and typed.text == "Noted." and typed.attachments == ()
    await voice.aclose()


async def test_spoken_slash_command_and_tts_switch() -> None:
    voice = service(auto="off")
    gateway, llm = await _gateway(voice, ["Hello!", "Hi again."])
    heard = await gateway.handle(_message(note=await voice.speak("Slash TTS on.")))
    assert heard is not None and heard.command == "tts", heard
    assert heard.text == "Voice replies on for this session."
    typed = await gateway.handle(_message("hello"))
    assert typed is not None and len(typed.attachments) == 1  # /tts on speaks even typed turns
    off = await gateway.handle(_message("/tts off"))
    assert off is not None and off.text == "Voice replies off for this session."
    again = await gateway.handle(_message("hello"))
    assert again is not None and again.attachments == ()
    assert len(llm.requests) == 2  # the commands never reached the model
    await voice.aclose()


@pytest.mark.parametrize(
    ("data", "says"),
    [(b"", "empty"), (b"\x00garbage" * 64, "not an audio file"),
     (wav_bytes(np.zeros(16000 * 3, dtype=np.float32), 16000), "longer than 2 seconds")],
    ids=["empty", "corrupt", "too-long"],
)
async def test_bad_audio_gets_a_clear_reply(data: bytes, says: str) -> None:
    voice = service(max_seconds=2.0)
    gateway, llm = await _gateway(voice, ["never"])
    reply = await gateway.handle(_message(note=Attachment(kind="voice", mime="audio/ogg", data=data)))
    assert reply is not None and reply.command == "voice"
    assert reply.text.startswith("Sorry, I couldn't use that voice note") and says in reply.text
    assert llm.requests == []
