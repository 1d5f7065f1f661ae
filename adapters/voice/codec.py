"""Audio files in and voice notes out through PyAV (FFmpeg's libraries, bundled in PyAV's wheel).

Decoding gives mono float32 at the file's own rate (resampling to 16 kHz is ext's job); encoding
makes OGG/Opus from 48 kHz mono float32. Calls block: run them in a worker thread.
"""

from __future__ import annotations

import io
from typing import Any

from rustyclaw.domain.errors import AudioError, MissingExtraError
from rustyclaw.ports.voice import VOICE_NOTE_RATE, Audio

OPUS_FRAME = 960  # 20 ms at 48 kHz, Opus's usual frame


def _av() -> Any:
    try:
        import av
    except ImportError as exc:
        raise MissingExtraError("av", "voice", "Decoding voice notes") from exc
    return av


def _numpy() -> Any:
    try:
        import numpy
    except ImportError as exc:
        raise MissingExtraError("numpy", "voice", "Decoding voice notes") from exc
    return numpy


class PyAVCodec:
    """OGG/Opus (Telegram, WhatsApp), WAV, MP3 and whatever else FFmpeg reads, to mono float32."""

    def __init__(self, bitrate: int = 32000) -> None:
        self.bitrate = bitrate

    def decode(self, data: bytes, *, max_seconds: float) -> Audio:
        if not data:
            raise AudioError("the voice note is empty")
        av = _av()
        np = _numpy()
        try:
            container = av.open(io.BytesIO(data), mode="r")
        except (av.FFmpegError, ValueError) as exc:
            raise AudioError("the voice note could not be read: it is not an audio file FFmpeg knows") from exc
        with container:
            if not container.streams.audio:
                raise AudioError("the file has no audio in it")
            stream = container.streams.audio[0]
            if stream.codec_context is None or stream.codec_context.codec is None:
                raise AudioError("the voice note uses an audio codec this build cannot decode")
            rate = int(stream.codec_context.sample_rate or stream.rate or 0)
            # Only the layout and sample format change here; the rate stays the file's own.
            mixer = av.AudioResampler(format="flt", layout="mono", rate=rate or None)
            parts: list[Any] = []
            total = 0
            try:
                for frame in container.decode(stream):
                    rate = rate or int(frame.sample_rate)
                    for mono in mixer.resample(frame):
                        samples = mono.to_ndarray().reshape(-1)
                        parts.append(samples)
                        total += len(samples)
                    if rate and total > max_seconds * rate:
                        raise AudioError(
                            f"the voice note is longer than {max_seconds:g} seconds (voice.stt.maxSeconds)"
                        )
                for mono in mixer.resample(None):
                    parts.append(mono.to_ndarray().reshape(-1))
            except av.FFmpegError as exc:
                raise AudioError("the voice note is damaged: its audio could not be decoded") from exc
        if not parts or rate <= 0:
            raise AudioError("the voice note has no sound in it")
        samples = np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)
        if len(samples) == 0:
            raise AudioError("the voice note has no sound in it")
        if len(samples) > max_seconds * rate:
            raise AudioError(f"the voice note is longer than {max_seconds:g} seconds (voice.stt.maxSeconds)")
        return Audio(samples, rate)

    def encode_voice_note(self, audio: Audio) -> bytes:
        if audio.rate != VOICE_NOTE_RATE:
            raise ValueError(f"voice notes are encoded from {VOICE_NOTE_RATE} Hz audio, got {audio.rate} Hz")
        av = _av()
        np = _numpy()
        samples = np.clip(np.asarray(audio.samples, dtype=np.float32).reshape(-1), -1.0, 1.0)
        buffer = io.BytesIO()
        with av.open(buffer, mode="w", format="ogg") as container:
            stream = container.add_stream("libopus", rate=VOICE_NOTE_RATE, layout="mono")
            stream.bit_rate = self.bitrate
            # The encoder takes whole frames; the last one is padded with silence.
            padded = np.zeros(-(-len(samples) // OPUS_FRAME) * OPUS_FRAME, dtype=np.float32)
            padded[: len(samples)] = samples
            for start in range(0, len(padded), OPUS_FRAME):
                frame = av.AudioFrame.from_ndarray(
                    padded[None, start : start + OPUS_FRAME], format="flt", layout="mono"
                )
                frame.sample_rate = VOICE_NOTE_RATE
                frame.pts = start
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
        return buffer.getvalue()
