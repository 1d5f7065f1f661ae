"""Deterministic texts and conversations for the hot-path benchmarks (no downloads, no randomness
that changes between runs)."""

from __future__ import annotations

import inspect
import json
import random
from pathlib import Path

from rustyclaw.domain.messages import ChatMessage, ToolCall

REPO = Path(__file__).resolve().parent.parent

# Non-Latin letters and full-width punctuation are the point here, hence the RUF001 exemptions.
_RUSSIAN = (
    "Привет! Я ваш личный помощник. Я могу ответить на вопросы, составить план на день, "
    "перевести текст или напомнить о встрече. Напишите, что вам нужно, и я постараюсь помочь. "  # noqa: RUF001
)
_CHINESE = (
    "你好！我是你的私人助理。我可以回答问题、安排日程、翻译文本或者提醒你开会。"  # noqa: RUF001
    "请告诉我你需要什么，我会尽力帮忙。"  # noqa: RUF001
)
_ARABIC = "مرحبا! أنا مساعدك الشخصي. يمكنني الإجابة على الأسئلة وتنظيم يومك وترجمة النصوص. "


def english_text(chars: int = 20_000) -> str:
    """Prose from the repository's own documentation."""
    parts = [(REPO / "README.md").read_text()]
    shared = REPO.parent / "shared" / "ARCHITECTURE.md"
    if shared.exists():
        parts.append(shared.read_text())
    return _repeat_to("\n\n".join(parts), chars)


def code_text(chars: int = 20_000) -> str:
    """Python source from the standard library (the same on every machine with this Python)."""
    return _repeat_to(inspect.getsource(json) + inspect.getsource(inspect), chars)


def non_latin_text(chars: int = 20_000) -> str:
    """Russian, Chinese and Arabic chat-style text."""
    return _repeat_to(_RUSSIAN + "\n" + _CHINESE + "\n" + _ARABIC + "\n", chars)


def _repeat_to(text: str, chars: int) -> str:
    while len(text) < chars:
        text += text
    return text[:chars]


def conversation(messages: int = 2000, seed: int = 7) -> list[ChatMessage]:
    """A tool-using chat of ``messages`` messages: turns of user, assistant with a tool call, tool result,
    assistant answer; one tool result in eight is a long one (over the soft-trim threshold)."""
    rng = random.Random(seed)
    prose = english_text(60_000)
    code = code_text(60_000)

    def snippet(source: str, low: int, high: int) -> str:
        size = rng.randint(low, high)
        start = rng.randrange(0, len(source) - size)
        return source[start : start + size]

    out: list[ChatMessage] = []
    turn = 0
    while len(out) < messages:
        call_id = f"call_{turn}"
        turn_messages = [
            ChatMessage(role="user", content=snippet(prose, 20, 400)),
            ChatMessage(role="assistant", content="",
                        tool_calls=(ToolCall(id=call_id, name="read_file",
                                             arguments=json.dumps({"path": f"src/module_{turn}.py"})),)),
            ChatMessage(role="tool", tool_call_id=call_id,
                        content=snippet(code, 6000, 12000) if turn % 8 == 0 else snippet(code, 100, 1500)),
            ChatMessage(role="assistant", content=snippet(prose, 100, 1200)),
        ]
        out.extend(turn_messages[: messages - len(out)])
        turn += 1
    return out
