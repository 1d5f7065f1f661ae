"""The pure voice rules: spoken commands, when replies are spoken, `/tts`."""

from __future__ import annotations

import pytest

from rustyclaw.domain.messages import SessionEntry
from rustyclaw.domain.voice import should_speak, spoken_command, tts_command


@pytest.mark.parametrize(
    ("transcript", "text"),
    [
        ("Slash new.", "/new"),
        ("slash, reset!", "/reset"),
        ("Slash TTS off.", "/tts off"),
        ("/status", "/status"),
        ("Slash model default.", "/model default"),
        ("Slash dance now.", "Slash dance now."),  # not a command: the words go to the model
        (" What is the slash command for help? ", "What is the slash command for help?"),
        ("Slash", "Slash"),
    ],
)
def test_spoken_commands(transcript: str, text: str) -> None:
    assert spoken_command(transcript) == text


@pytest.mark.parametrize(
    ("session", "auto", "inbound_voice", "spoken"),
    [
        ("off", "off", True, False),
        ("off", "inbound", True, True),
        ("off", "inbound", False, False),
        ("off", "always", False, True),
        ("on", "off", False, True),
        ("mute", "always", True, False),
    ],
)
def test_when_replies_are_spoken(session: str, auto: str, inbound_voice: bool, spoken: bool) -> None:
    assert should_speak(session, auto, inbound_voice) is spoken


def test_tts_command_sets_the_session_field() -> None:
    entry = SessionEntry(key="k", session_id="s")
    assert tts_command(entry, "", "inbound", True) == "Voice replies: auto (inbound)."
    assert tts_command(entry, "ON", "inbound", True).startswith("Voice replies on")
    assert entry.tts == "on"
    tts_command(entry, "off", "inbound", True)
    assert entry.tts == "mute"
    tts_command(entry, "auto", "inbound", True)
    assert entry.tts == "off"
    assert tts_command(entry, "loud", "inbound", True) == "Use /tts on, /tts off or /tts auto."


def test_tts_command_without_text_to_speech() -> None:
    entry = SessionEntry(key="k", session_id="s")
    assert "voice.tts.enabled" in tts_command(entry, "on", "off", False)
    assert entry.tts == "off"
