"""Voice adapters: faster-whisper speech to text, Piper text to speech, PyAV codec, the voice-note service."""
