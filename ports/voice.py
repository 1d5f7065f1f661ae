"""Voice: speech to text, text to speech, the audio codec, and the voice-note service the gateway uses.

Audio crosses these ports as ``Audio``: mono float32 samples (any buffer of float32: numpy
arrays, ``array('f')``) and their sample rate. Bad input is ``domain.errors.AudioError`` with a
message fit to show the user; a missing optional package is ``MissingExtraError`` (extra "voice").
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from rustyclaw.domain.messages import Attachment

WHISPER_RATE = 16000  # what Whisper models expect
VOICE_NOTE_RATE = 48000  # what Opus voice notes carry


class Audio(msgspec.Struct, frozen=True):
    """Mono float32 samples in [-1, 1] at ``rate`` Hz."""

    samples: Any
    rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate if self.rate else 0.0


class SpeechToText(Protocol):
    """Transcribes speech. Loads its model on first use; ``aclose`` releases it."""

    async def start(self) -> None: ...

    async def transcribe(self, pcm16k: Any, *, language: str | None = None) -> str:
        """The words in ``pcm16k`` (mono float32 at 16 kHz), or "" when there are none."""
        ...

    async def aclose(self) -> None: ...


class TextToSpeech(Protocol):
    """Speaks text. Loads its voice on first use; ``aclose`` releases it."""

    async def start(self) -> None: ...

    async def synthesize(self, text: str) -> Audio:
        """The spoken ``text`` at the voice's own rate (Piper voices: 22,050 Hz)."""
        ...

    async def aclose(self) -> None: ...


class AudioCodec(Protocol):
    """Decodes uploaded or received audio and encodes voice notes (blocking: call from a thread)."""

    def decode(self, data: bytes, *, max_seconds: float) -> Audio:
        """Mono float32 at the file's own rate; raises AudioError for empty, corrupt, unsupported
        or longer-than-``max_seconds`` input."""
        ...

    def encode_voice_note(self, audio: Audio) -> bytes:
        """OGG/Opus bytes of ``audio`` (which must be at 48 kHz)."""
        ...


class VoiceNotes(Protocol):
    """What the gateway needs: a voice note's words, and a reply spoken as a voice note."""

    @property
    def can_listen(self) -> bool: ...

    @property
    def can_speak(self) -> bool: ...

    @property
    def auto(self) -> str:
        """``voice.tts.auto``: "off", "always" or "inbound"."""
        ...

    async def transcribe(self, note: Attachment) -> str:
        """The words of a voice/audio attachment; AudioError when it cannot be used."""
        ...

    async def speak(self, text: str) -> Attachment:
        """``text`` as an OGG/Opus voice note (``kind="voice"``, ``mime="audio/ogg"``)."""
        ...
