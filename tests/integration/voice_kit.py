"""Real voice engines (Piper joe-medium, Whisper tiny.en from PyPI) and helpers for voice tests."""

from __future__ import annotations

import io
import re
import struct

import numpy as np

from rustyclaw.adapters.voice.codec import PyAVCodec
from rustyclaw.adapters.voice.piper_tts import PiperTextToSpeech
from rustyclaw.adapters.voice.service import VoiceNoteService
from rustyclaw.adapters.voice.whisper_stt import WhisperSpeechToText
from rustyclaw.domain.messages import Attachment
from rustyclaw.ext.resample import resample
from rustyclaw.ports.voice import Audio

SENTENCE = "Please remind me to water the plants tomorrow morning."


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def service(*, idle: float = 300.0, max_seconds: float = 60.0, auto: str = "inbound") -> VoiceNoteService:
    return VoiceNoteService(
        PyAVCodec(), WhisperSpeechToText(idle_unload_seconds=idle), PiperTextToSpeech(idle_unload_seconds=idle),
        max_seconds=max_seconds, auto=auto,
    )


async def spoken_note(voice: VoiceNoteService, text: str) -> Attachment:
    """`text` spoken by Piper and sent like a Telegram voice note (OGG/Opus, 48 kHz)."""
    return await voice.speak(text)


def decode_ogg(data: bytes) -> tuple[str, int, float, str]:
    """(codec, rate, seconds, container) of an OGG voice note, read back with PyAV."""
    import av

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return stream.codec_context.name, stream.codec_context.sample_rate, samples / 48000, container.format.name


def wav_bytes(samples: np.ndarray, rate: int, format_tag: int = 1) -> bytes:
    """A mono 16-bit WAV file; another `format_tag` makes one no decoder knows."""
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVE"
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, format_tag, 1, rate, rate * 2, 2, 16)
    return header + fmt + b"data" + struct.pack("<I", len(pcm)) + pcm


def mp3_bytes(samples: np.ndarray, rate: int) -> bytes:
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples[None, :].astype(np.float32), format="fltp", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


async def piper_audio(voice: VoiceNoteService, text: str) -> Audio:
    assert voice.tts is not None
    return await voice.tts.synthesize(text)


def to_rate(audio: Audio, rate: int) -> np.ndarray:
    return np.frombuffer(resample(audio.samples, audio.rate, rate), dtype=np.float32)
