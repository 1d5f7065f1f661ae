"""A voice note recorded in the web chat and a spoken reply played in it, in real headless Chromium.

Chromium's fake microphone plays a WAV that Piper spoke; the page records it with MediaRecorder
(WebM/Opus), posts it to `/api/voice` of `rustyclaw serve` (voice on), Whisper hears it, llmock
answers, Piper speaks the answer, and the page shows the transcript, the reply and an audio
player that the browser can decode.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, expect

from tests.e2e.gateway_process import GatewayProcess
from tests.fixtures.llm_servers import LLMockServer
from tests.integration.voice_kit import SENTENCE, piper_audio, service, to_rate, wav_bytes, words

from .conftest import CHROMIUM, run_async, start_gateway

pytestmark = pytest.mark.slow
RATE = 48_000


def spoken_wav(path: Path) -> float:
    """Writes SENTENCE spoken by Piper as a 48 kHz WAV (with a second of silence after); its length."""

    async def speak() -> bytes:
        voice = service()
        await voice.start()
        try:
            audio = await piper_audio(voice, SENTENCE)
        finally:
            await voice.aclose()
        samples = to_rate(audio, RATE)
        import numpy as np

        return wav_bytes(np.concatenate([samples, np.zeros(RATE, dtype=np.float32)]), RATE)

    data = run_async(speak)
    path.write_bytes(data)
    return (len(data) - 44) / 2 / RATE


@pytest.fixture
def microphone(tmp_path: Path, playwright: Playwright) -> Iterator[tuple[Browser, float]]:
    wav = tmp_path / "sentence.wav"
    seconds = spoken_wav(wav)
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--disable-gpu", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
              f"--use-file-for-fake-audio-capture={wav}%noloop", "--autoplay-policy=no-user-gesture-required"],
    )
    try:
        yield browser, seconds
    finally:
        browser.close()


@pytest.fixture
def voice_gateway(tmp_path: Path, mock_llm: LLMockServer) -> Iterator[GatewayProcess]:
    process = start_gateway(tmp_path / "gw", mock_llm.base_url,
                            voice={"stt": {"enabled": True}, "tts": {"enabled": True, "auto": "inbound"}})
    try:
        yield process
    finally:
        process.stop()


def test_a_voice_note_is_heard_answered_and_played(microphone: tuple[Browser, float], voice_gateway: GatewayProcess,
                                                   mock_llm: LLMockServer, artifacts: Path) -> None:
    browser, seconds = microphone
    context = browser.new_context(viewport={"width": 1000, "height": 700}, permissions=["microphone"])
    try:
        page = context.new_page()
        page.set_default_timeout(120_000)  # Whisper and Piper load on first use
        page.goto(voice_gateway.url + "/")
        expect(page.locator("#status")).to_have_text("connected")
        mock_llm.reply("I will remind you tomorrow morning.")
        page.click("#mic")
        expect(page.locator("#mic")).to_have_class("icon secondary recording")
        # Recorded until the fake microphone has played the whole sentence (a condition, not a sleep).
        page.wait_for_function("(ms) => Number(document.getElementById('mic').dataset.recordedMs) > ms",
                               arg=seconds * 1000)
        page.click("#mic")
        heard = page.locator(".msg.user")
        expect(heard).to_contain_text("plants", timeout=180_000)
        transcript = heard.inner_text().removeprefix("(voice note) ")
        assert len(set(words(transcript)) & set(words(SENTENCE))) >= 6, transcript
        expect(page.locator(".msg.assistant .body")).to_have_text("I will remind you tomorrow morning.")
        player = page.locator(".msg.assistant audio")
        expect(player).to_be_attached()
        page.wait_for_function("() => document.querySelector('.msg.assistant audio').readyState >= 1")
        assert page.evaluate("document.querySelector('.msg.assistant audio').duration") > 0.5
        page.screenshot(path=str(artifacts / "chat-voice.png"))
    finally:
        context.close()
