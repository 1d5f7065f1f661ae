"""A voice note uploaded to the web chat of `rustyclaw serve`: heard by Whisper, answered by the real
llama.cpp model, and spoken back by Piper as an OGG/Opus voice note."""

from __future__ import annotations

import base64
from pathlib import Path

import anyio
import httpx
import pytest

from tests.integration.voice_kit import SENTENCE, decode_ogg, service, words

from .gateway_process import GatewayProcess, write_config

pytestmark = [pytest.mark.llama, pytest.mark.slow]


async def spoken_ogg(text: str) -> bytes:
    voice = service()
    await voice.start()
    try:
        note = await voice.speak(text)
    finally:
        await voice.aclose()
    assert note.data is not None
    return note.data


def test_a_voice_note_is_transcribed_answered_and_spoken_back(
    tmp_path: Path, llama_server: str, llama_model: str
) -> None:
    config = write_config(
        tmp_path / "rustyclaw.yaml", tmp_path / "state", llama_server, llama_model,
        voice={"stt": {"enabled": True}, "tts": {"enabled": True, "auto": "inbound"}},
    )
    note = anyio.run(spoken_ogg, SENTENCE)
    gateway = GatewayProcess(config, tmp_path).start()
    try:
        response = httpx.post(f"{gateway.url}/api/voice", params={"session": "voice-user"}, content=note,
                              headers={"content-type": "audio/ogg"}, timeout=300)
        assert response.status_code == 200, response.text
        body = response.json()
        assert words(body["transcript"]) == words(SENTENCE)
        assert body["reply"] and body["audio_mime"] == "audio/ogg"
        codec, rate, seconds, container = decode_ogg(base64.b64decode(body["audio"]))
        assert (codec, rate, container) == ("opus", 48000, "ogg") and seconds > 0  # as long as the reply is

        corrupt = httpx.post(f"{gateway.url}/api/voice", params={"session": "voice-user"},
                             content=b"OggS not really", headers={"content-type": "audio/ogg"}, timeout=60)
        assert corrupt.status_code == 200 and corrupt.json()["audio"] is None
        assert corrupt.json()["reply"].startswith("Sorry, I couldn't use that voice note")  # the gateway's words
        assert httpx.get(f"{gateway.url}/readyz").status_code == 200  # nothing crashed
    finally:
        assert gateway.stop() == 0, gateway.log()
