"""Voice rules: a voice note's transcript is the user's text; when a reply is spoken; `/tts`.

Spoken commands: Whisper writes "/new" as "Slash new." So a transcript whose first word is
"slash" (any case, any punctuation after it) or that starts with "/", and whose next word names a
known command, becomes that command: "Slash TTS off." -> "/tts off", "Slash new." -> "/new". The
arguments are the remaining words in lower case without punctuation. Any other transcript is the
user's message as spoken.

Speaking a reply: the session's `tts` field (OpenClaw's sessions.json name) holds the `/tts`
choice. "on" speaks every reply; "mute" (set by `/tts off`) speaks none; "off", the default of a
new session, means "no choice made" and follows `voice.tts.auto`: "always" speaks every reply,
"inbound" answers a voice note with a voice note, "off" speaks none. `/tts auto` goes back to it.
Only a turn's answer is spoken, not command replies or errors.
"""

from __future__ import annotations

import logging
import re

import msgspec

from rustyclaw.domain.commands import KNOWN
from rustyclaw.domain.errors import AudioError
from rustyclaw.domain.events import Reply
from rustyclaw.domain.messages import Attachment, InboundMessage, SessionEntry
from rustyclaw.ports.voice import VoiceNotes

log = logging.getLogger("rustyclaw.voice")

VOICE_KINDS = ("voice", "audio")
TTS_ON, TTS_MUTE, TTS_DEFAULT = "on", "mute", "off"
_WORD = re.compile(r"[^\w/]+")


def voice_note(message: InboundMessage) -> Attachment | None:
    """The first voice or audio attachment of a message."""
    for attachment in message.attachments:
        if attachment.kind in VOICE_KINDS:
            return attachment
    return None


def spoken_command(transcript: str, names: frozenset[str] = KNOWN) -> str:
    """The transcript, or the slash command it speaks (see the module docstring)."""
    words = [w for w in (_WORD.sub(" ", part).strip() for part in transcript.split()) if w]
    words = [piece for w in words for piece in w.split()]
    if not words:
        return transcript.strip()
    first = words[0].lower()
    if first == "slash" and len(words) > 1:
        name, rest = words[1].lower().lstrip("/"), words[2:]
    elif first.startswith("/") and len(first) > 1:
        name, rest = first[1:], words[1:]
    else:
        return transcript.strip()
    if name not in names:
        return transcript.strip()
    return " ".join([f"/{name}", *(w.lower() for w in rest)])


def should_speak(session_tts: str, auto: str, inbound_voice: bool) -> bool:
    if session_tts == TTS_ON:
        return True
    if session_tts == TTS_MUTE:
        return False
    return auto == "always" or (auto == "inbound" and inbound_voice)


def tts_command(entry: SessionEntry, args: str, auto: str, available: bool) -> str:
    """`/tts`, `/tts on`, `/tts off`, `/tts auto`; changes `entry.tts` in place."""
    choice = args.strip().lower()
    if choice in ("on", "off", "auto") and not available:
        return "Voice replies are not enabled on this gateway (voice.tts.enabled)."
    if choice == "on":
        entry.tts = TTS_ON
        return "Voice replies on for this session."
    if choice == "off":
        entry.tts = TTS_MUTE
        return "Voice replies off for this session."
    if choice in ("auto", "default"):
        entry.tts = TTS_DEFAULT
        return f"Voice replies follow the gateway's setting for this session (auto: {auto})."
    if choice:
        return "Use /tts on, /tts off or /tts auto."
    state = {TTS_ON: "on", TTS_MUTE: "off"}.get(entry.tts, f"auto ({auto})")
    return f"Voice replies: {state}." + ("" if available else " (not enabled on this gateway)")


class Heard(msgspec.Struct, frozen=True, kw_only=True):
    """A message after listening: its text now holds the transcript, or `problem` says why not."""

    message: InboundMessage
    was_voice: bool = False
    transcript: str | None = None
    problem: str | None = None


async def listen(voice: VoiceNotes | None, message: InboundMessage) -> Heard:
    """Transcribes a voice note into the message's text; bad audio gives a `problem` for the user."""
    note = voice_note(message)
    if note is None:
        return Heard(message=message)
    if voice is None or not voice.can_listen:
        if message.text.strip():
            return Heard(message=message)
        return Heard(message=message, was_voice=True,
                     problem="I can't listen to voice notes here: speech to text is off (voice.stt.enabled).")
    try:
        transcript = (await voice.transcribe(note)).strip()
    except AudioError as exc:
        return Heard(message=message, was_voice=True, problem=f"Sorry, I couldn't use that voice note: {exc}.")
    except Exception:  # a model that failed to load or run: the user still gets an answer
        log.exception("transcription failed")
        return Heard(message=message, was_voice=True,
                     problem="Sorry, speech to text failed on this gateway; please type your message.")
    if not transcript:
        return Heard(message=message, was_voice=True, transcript="",
                     problem="Sorry, I couldn't make out any words in that voice note.")
    caption = message.text.strip()
    text = f"{caption}\n\n{transcript}" if caption else spoken_command(transcript)
    return Heard(message=msgspec.structs.replace(message, text=text), was_voice=True, transcript=transcript)


async def speak_reply(voice: VoiceNotes | None, reply: Reply, session_tts: str, heard: Heard) -> Reply:
    """The reply with its transcript, and spoken as a voice note when the rules say so."""
    if heard.transcript is not None:
        reply = msgspec.structs.replace(reply, transcript=heard.transcript)
    spoken = reply.command is None and reply.error is None and bool(reply.text.strip())
    if voice is None or not voice.can_speak or not spoken:
        return reply
    if not should_speak(session_tts, voice.auto, heard.was_voice):
        return reply
    try:
        note = await voice.speak(reply.text)
    except AudioError as exc:
        log.warning("reply not spoken: %s", exc)
        return reply
    except Exception:  # the text reply still goes out
        log.exception("text to speech failed")
        return reply
    return msgspec.structs.replace(reply, attachments=(*reply.attachments, note))
