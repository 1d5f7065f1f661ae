"""Voice notes through the real models: Piper speaks, Whisper hears, PyAV decodes and encodes."""

from __future__ import annotations

import anyio
import numpy as np
import pytest

from rustyclaw.adapters.voice.piper_tts import PiperTextToSpeech
from rustyclaw.adapters.voice.whisper_stt import WhisperSpeechToText
from rustyclaw.domain.errors import AudioError
from rustyclaw.domain.messages import Attachment

from .voice_kit import SENTENCE, decode_ogg, mp3_bytes, piper_audio, service, wav_bytes, words

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_spoken_ogg_opus_note_comes_out_as_the_same_words() -> None:
    voice = service()
    note = await voice.speak(SENTENCE)
    assert note.kind == "voice" and note.mime == "audio/ogg"
    codec, rate, seconds, container = decode_ogg(note.data or b"")
    assert (codec, rate, container) == ("opus", 48000, "ogg")
    assert seconds > 1.5
    assert words(await voice.transcribe(note)) == words(SENTENCE)
    await voice.aclose()


async def test_wav_and_mp3_uploads_are_transcribed() -> None:
    voice = service()
    audio = await piper_audio(voice, "The meeting starts after lunch.")
    samples = np.asarray(audio.samples, dtype=np.float32)
    for data, mime in [(wav_bytes(samples, audio.rate), "audio/wav"), (mp3_bytes(samples, audio.rate), "audio/mpeg")]:
        heard = await voice.transcribe(Attachment(kind="audio", mime=mime, data=data))
        assert words(heard) == words("The meeting starts after lunch."), mime
    await voice.aclose()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "empty"),
        (b"this is not audio at all" * 50, "not an audio file"),
        (wav_bytes(np.zeros(8000, dtype=np.float32), 8000, format_tag=0x7777), "codec"),
        (b"OggS" + bytes(300), "not an audio file"),
    ],
    ids=["empty", "corrupt", "unsupported-codec", "truncated-ogg"],
)
async def test_bad_audio_is_a_clear_error(data: bytes, problem: str) -> None:
    voice = service()
    with pytest.raises(AudioError, match=problem):
        await voice.transcribe(Attachment(kind="voice", data=data))
    assert voice.stt is not None and not voice.stt.model.loaded  # type: ignore[attr-defined]


async def test_too_long_is_refused_before_transcribing() -> None:
    voice = service(max_seconds=1.0)
    data = wav_bytes(np.zeros(16000 * 3, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match=r"longer than 1 seconds \(voice.stt.maxSeconds\)"):
        await voice.transcribe(Attachment(kind="voice", data=data))


async def test_silence_gives_no_words() -> None:
    voice = service()
    data = wav_bytes(np.zeros(16000 * 2, dtype=np.float32), 16000)
    assert words(await voice.transcribe(Attachment(kind="voice", data=data))) == []
    await voice.aclose()


async def test_models_load_on_first_use_and_unload_when_idle() -> None:
    stt = WhisperSpeechToText(idle_unload_seconds=0.3)
    tts = PiperTextToSpeech(idle_unload_seconds=0.3)
    assert not stt.model.loaded and not tts.model.loaded
    audio = await tts.synthesize("Hello there.")
    assert tts.model.loaded and not stt.model.loaded
    pcm = (0.01 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)
    await stt.transcribe(pcm)
    assert stt.model.loaded and stt.model.loads == 1
    await stt.transcribe(pcm)
    assert stt.model.loads == 1  # kept while in use
    with anyio.fail_after(10):
        while stt.model.loaded or tts.model.loaded:  # noqa: ASYNC110 - the unload is a loop timer
            await anyio.sleep(0.05)
    await stt.transcribe(pcm)
    assert stt.model.loads == 2  # loaded again on the next use
    assert audio.rate == 22050 and len(audio.samples) > 0
    await stt.aclose()
    await tts.aclose()
    assert not stt.model.loaded
