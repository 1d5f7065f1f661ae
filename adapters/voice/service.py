"""Voice notes for the gateway: decode -> resample to 16 kHz -> transcribe; speak -> 48 kHz -> OGG/Opus."""

from __future__ import annotations

import anyio.to_thread

from rustyclaw.domain.errors import AudioError
from rustyclaw.domain.messages import Attachment
from rustyclaw.ext.resample import resample
from rustyclaw.ports.voice import VOICE_NOTE_RATE, WHISPER_RATE, Audio, AudioCodec, SpeechToText, TextToSpeech


class VoiceNoteService:
    """The VoiceNotes port over a codec, the ext resampler and the speech engines (either may be None)."""

    def __init__(
        self, codec: AudioCodec, stt: SpeechToText | None, tts: TextToSpeech | None, *,
        max_seconds: float = 300.0, auto: str = "off",
    ) -> None:
        self._codec = codec
        self.stt = stt
        self.tts = tts
        self.max_seconds = max_seconds
        self._auto = auto

    @property
    def can_listen(self) -> bool:
        return self.stt is not None

    @property
    def can_speak(self) -> bool:
        return self.tts is not None

    @property
    def auto(self) -> str:
        return self._auto

    def decode_16k(self, data: bytes) -> Audio:
        """Blocking: the note as 16 kHz mono float32."""
        audio = self._codec.decode(data, max_seconds=self.max_seconds)
        return Audio(resample(audio.samples, audio.rate, WHISPER_RATE), WHISPER_RATE)

    async def transcribe(self, note: Attachment) -> str:
        if self.stt is None:
            raise AudioError("voice notes are not transcribed here (voice.stt.enabled is off)")
        if note.data is None:
            raise AudioError("the voice note's audio was not received")
        audio = await anyio.to_thread.run_sync(self.decode_16k, note.data)
        return await self.stt.transcribe(audio.samples)

    async def speak(self, text: str) -> Attachment:
        if self.tts is None:
            raise AudioError("replies are not spoken here (voice.tts.enabled is off)")
        spoken = await self.tts.synthesize(text)
        if len(spoken.samples) == 0:
            raise AudioError("there was nothing to say")

        def encode() -> bytes:
            at_48k = resample(spoken.samples, spoken.rate, VOICE_NOTE_RATE)
            return self._codec.encode_voice_note(Audio(at_48k, VOICE_NOTE_RATE))

        data = await anyio.to_thread.run_sync(encode)
        return Attachment(kind="voice", mime="audio/ogg", name="reply.ogg", data=data, size=len(data))

    async def start(self) -> None:
        for engine in (self.stt, self.tts):
            if engine is not None:
                await engine.start()

    async def aclose(self) -> None:
        for engine in (self.stt, self.tts):
            if engine is not None:
                await engine.aclose()
