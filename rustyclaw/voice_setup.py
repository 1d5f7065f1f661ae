"""Builds the voice-note service from the `voice` config section for the composition root.

    voice = build_voice(cfg.voice)          # None when both stt and tts are disabled
    if voice is not None: await voice.start()
    gateway = Gateway(..., voice=voice)
    ... await voice.aclose() on shutdown

Nothing heavy is imported here: the models load on the first voice note / spoken reply and unload
after `voice.idleUnloadSeconds` of idleness.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rustyclaw.config.voice import VoiceConfig

if TYPE_CHECKING:
    from rustyclaw.adapters.voice.service import VoiceNoteService


def build_voice(voice_cfg: VoiceConfig) -> VoiceNoteService | None:
    """The VoiceNotes service for `cfg.voice` (a config.voice.VoiceConfig), or None when voice is off."""
    stt_cfg, tts_cfg = voice_cfg.stt, voice_cfg.tts
    if not stt_cfg.enabled and not tts_cfg.enabled:
        return None
    # Imported only with voice on: the adapters' modules (ctypes, the lazy-model machinery) are
    # about 44 modules the idle gateway with voice off does not need.
    from rustyclaw.adapters.voice.codec import PyAVCodec
    from rustyclaw.adapters.voice.piper_tts import PiperTextToSpeech
    from rustyclaw.adapters.voice.service import VoiceNoteService
    from rustyclaw.adapters.voice.whisper_stt import WhisperSpeechToText

    idle = float(voice_cfg.idle_unload_seconds)
    stt = (
        WhisperSpeechToText(stt_cfg.model, device=stt_cfg.device, compute_type=stt_cfg.compute_type,
                            idle_unload_seconds=idle)
        if stt_cfg.enabled else None
    )
    tts = PiperTextToSpeech(tts_cfg.voice, idle_unload_seconds=idle) if tts_cfg.enabled else None
    return VoiceNoteService(PyAVCodec(), stt, tts, max_seconds=float(stt_cfg.max_seconds),
                            auto=str(tts_cfg.auto) if tts_cfg.enabled else "off")
