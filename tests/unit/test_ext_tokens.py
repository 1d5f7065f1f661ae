# ruff: noqa: RUF001 - the corpus is Russian and Chinese text on purpose
"""Both twins of the token estimator and the chat-format accounting, on the same cases."""

from __future__ import annotations

import random
from types import ModuleType

import pytest

from rustyclaw.ext import tokens_py

from .twins import REQUIRE, compiled, twin_fixture

COMPILED = compiled("tokens")
twin = twin_fixture("tokens", tokens_py)


def _tiktoken_count() -> object:
    from rustyclaw.adapters.tokenizer.tiktoken_cl100k import TiktokenTokenizer

    return TiktokenTokenizer().count


# A fixed corpus of chat-style texts written for this test (not the texts the tables were fitted on).
CORPUS: dict[str, list[str]] = {
    "english": [
        "The gateway keeps every conversation as a session. When the history grows past the model's "
        "context window, the oldest turns are dropped first and large tool results are trimmed, so the "
        "assistant still sees what the user asked most recently.",
        "Hi! Could you remind me what we decided about the trip next month? I think we said Friday "
        "morning, but I'm not sure whether Anna is coming with us or meeting us at the station.",
        "Local models are slower than hosted ones, but they keep your messages on your own hardware. "
        "A small model answers simple questions in under a second on a laptop, while a larger one may "
        "need a graphics card to feel responsive.",
        "Please write a short summary of the meeting: we agreed to ship the new release on Tuesday, "
        "postpone the database migration until after the holidays, and ask the design team for two "
        "more mockups of the settings page.",
        "Reading a book before bed is one of the simplest habits that improve sleep. Unlike a phone, "
        "a paper page gives off no light, and a good story slowly pulls the mind away from the worries "
        "of the day.",
    ],
    "python": [
        "def count_tokens(messages: list[dict[str, str]], encoding) -> int:\n"
        "    total = 3\n"
        "    for message in messages:\n"
        "        total += 3\n"
        "        for key, value in message.items():\n"
        "            total += len(encoding.encode(value))\n"
        "            if key == \"name\":\n"
        "                total += 1\n"
        "    return total\n",
        "class SessionStore:\n"
        "    \"\"\"Keeps sessions in memory for tests.\"\"\"\n\n"
        "    def __init__(self) -> None:\n"
        "        self._sessions: dict[str, Session] = {}\n\n"
        "    async def load(self, key: str) -> Session | None:\n"
        "        return self._sessions.get(key)\n\n"
        "    async def save(self, session: Session) -> None:\n"
        "        self._sessions[session.key] = session\n",
        "import asyncio\nimport json\n\n\nasync def main() -> None:\n"
        "    reader, writer = await asyncio.open_connection(\"127.0.0.1\", 8080)\n"
        "    writer.write(json.dumps({\"op\": \"ping\", \"id\": 42}).encode() + b\"\\n\")\n"
        "    await writer.drain()\n"
        "    line = await reader.readline()\n"
        "    print(json.loads(line)[\"result\"])\n"
        "    writer.close()\n\n\nif __name__ == \"__main__\":\n    asyncio.run(main())\n",
        "@pytest.mark.parametrize(\"budget\", [0, 10, 100])\n"
        "def test_plan_respects_budget(budget: int) -> None:\n"
        "    tokens = [5, 7, 11, 13]\n"
        "    start, trims = plan(tokens, [-1] * 4, [True, False, True, False], budget)\n"
        "    assert 0 <= start < len(tokens)\n"
        "    assert all(i >= start for i in trims)\n",
        "for index, (name, value) in enumerate(sorted(config.items())):\n"
        "    if value is None or name.startswith(\"_\"):\n"
        "        continue\n"
        "    print(f\"{index:3d} {name:<20} = {value!r}\")\n"
        "else:\n"
        "    logger.warning(\"no settings found in %s\", path)\n",
    ],
    "russian": [
        "Привет! Напомни, пожалуйста, о чём мы договорились насчёт поездки в следующем месяце? "
        "Кажется, мы решили выехать в пятницу утром, но я не уверен, поедет ли с нами Анна.",
        "Локальные модели работают медленнее облачных, зато ваши сообщения остаются на вашем "
        "собственном компьютере. Небольшая модель отвечает на простые вопросы меньше чем за секунду.",
        "Каждый разговор хранится как отдельная сессия. Когда история становится длиннее окна "
        "контекста модели, самые старые сообщения удаляются первыми, а большие результаты "
        "инструментов сокращаются.",
        "Чтение книги перед сном — одна из самых простых привычек, которые улучшают сон. В отличие от "
        "телефона, бумажная страница не светится, а хорошая история постепенно отвлекает от забот.",
        "Пожалуйста, кратко перескажи итоги встречи: мы договорились выпустить новую версию во "
        "вторник, отложить перенос базы данных до конца праздников и попросить дизайнеров сделать "
        "ещё два макета страницы настроек.",
    ],
    "chinese": [
        "你好！请提醒我一下，我们下个月的旅行是怎么安排的？我记得我们决定星期五早上出发，但我不确定安娜是和我们一起走，还是在车站和我们会合。",
        "本地模型比云端模型慢，但你的消息会一直保存在你自己的电脑上。一个小模型在笔记本电脑上不到一秒就能回答简单的问题。",
        "每一次对话都保存为一个会话。当历史记录超过模型的上下文窗口时，最早的消息会先被删除，较大的工具结果会被截短。",
        "睡前读书是改善睡眠最简单的习惯之一。与手机不同，纸质书不会发光，一个好故事会慢慢把人的注意力从白天的烦恼中拉开。",
        "请简要总结一下会议内容：我们同意在星期二发布新版本，把数据库迁移推迟到假期之后，并请设计团队再做两个设置页面的样稿。",
    ],
    "arabic": [
        "مرحبا! هل يمكنك أن تذكرني بما اتفقنا عليه بخصوص الرحلة في الشهر القادم؟ أظن أننا قررنا "
        "السفر صباح يوم الجمعة، لكنني لست متأكدا إن كانت آنا ستأتي معنا.",
        "النماذج المحلية أبطأ من النماذج السحابية، لكن رسائلك تبقى على جهازك الخاص. يجيب نموذج "
        "صغير عن الأسئلة البسيطة في أقل من ثانية على حاسوب محمول.",
        "تحفظ كل محادثة كجلسة مستقلة. عندما يصبح السجل أطول من نافذة السياق للنموذج، تحذف أقدم "
        "الرسائل أولا وتختصر نتائج الأدوات الكبيرة.",
        "القراءة قبل النوم من أبسط العادات التي تحسن النوم. على عكس الهاتف، لا تصدر الصفحة الورقية "
        "أي ضوء، والقصة الجيدة تبعد العقل ببطء عن هموم اليوم.",
        "من فضلك اكتب ملخصا قصيرا للاجتماع: اتفقنا على إصدار النسخة الجديدة يوم الثلاثاء، وتأجيل "
        "نقل قاعدة البيانات إلى ما بعد العطلة، وطلب تصميمين إضافيين لصفحة الإعدادات.",
    ],
}

# The estimator's documented tolerance on CORPUS (see rustyclaw.ext.tokens_py): the mean absolute
# error per kind of text, and the worst single text.
MEAN_TOLERANCE = 0.15
WORST_TOLERANCE = 0.30


# Cases where cl100k's count follows directly from its pre-tokenizer; the estimator must agree
# exactly (and so must tiktoken, checked in test_simple_cases_match_tiktoken).
SIMPLE_CASES = [
    ("", 0),
    ("hello", 1),
    (" hello", 1),
    ("hello world", 2),
    ("The cat sat on the mat.", 7),
    ("123", 1),
    ("1234567", 3),
    ("12 34", 3),
    ("\n\n", 1),
    ("a\nb", 3),
    ("====", 1),
    ("x == y", 3),
    ("print(x)", 3),
    ("self.value = 1", 5),
    ("fooBar", 2),
    ("user_name", 2),
    ("ok!!!", 2),
    (" мир", 2),
    ("你好", 2),
    ("don't", 2),
]


@pytest.mark.parametrize(("text", "expected"), SIMPLE_CASES)
def test_simple_cases(twin: ModuleType, text: str, expected: int) -> None:
    assert twin.estimate(text) == expected


def test_simple_cases_match_tiktoken() -> None:
    count = _tiktoken_count()
    assert [count(text) for text, _ in SIMPLE_CASES] == [n for _, n in SIMPLE_CASES]  # type: ignore[operator]


def test_digits_go_in_groups_of_three(twin: ModuleType) -> None:
    assert [twin.estimate("7" * n) for n in range(1, 10)] == [1, 1, 1, 2, 2, 2, 3, 3, 3]


def test_cjk_costs_about_one_token_per_character(twin: ModuleType) -> None:
    one = twin.estimate("中")
    ten = twin.estimate("中文的字符串测试内容")
    assert one == 1
    assert 8 <= ten <= 11


def test_estimate_rejects_non_text(twin: ModuleType) -> None:
    with pytest.raises(TypeError):
        twin.estimate(b"bytes")


@pytest.mark.parametrize("kind", sorted(CORPUS))
def test_estimate_within_tolerance_of_tiktoken(twin: ModuleType, kind: str) -> None:
    count = _tiktoken_count()
    errors = []
    for text in CORPUS[kind]:
        true = count(text)  # type: ignore[operator]
        errors.append(abs(twin.estimate(text) - true) / true)
    assert sum(errors) / len(errors) <= MEAN_TOLERANCE, errors
    assert max(errors) <= WORST_TOLERANCE, errors


def _random_texts(count: int) -> list[str]:
    rng = random.Random(20261123)
    pool = [chr(cp) for cp in range(0, 0x3000, 5) if not 0xD800 <= cp < 0xE000]
    pool += [chr(cp) for cp in range(0x3000, 0x11000, 89) if not 0xD800 <= cp < 0xE000]
    pool += ["\U0001f600", "\U00020001", "\U0010ffff", "\u00a0", "\u3000", "\u2028"]
    pool += list(" \n\r\t.,:;!?()[]{}=-_'\"abcxyzABCXYZ0123456789") * 20
    return ["".join(rng.choices(pool, k=rng.randint(0, 60))) for _ in range(count)]


@pytest.mark.skipif(COMPILED is None and not REQUIRE, reason="compiled twin not built")
def test_twins_agree_on_every_text() -> None:
    assert COMPILED is not None, "RUSTYCLAW_REQUIRE_EXTENSIONS is set but _tokens is not built"
    texts = _random_texts(3000) + [t for texts in CORPUS.values() for t in texts]
    assert [COMPILED.estimate(t) for t in texts] == [tokens_py.estimate(t) for t in texts]


@pytest.mark.skipif(COMPILED is None and not REQUIRE, reason="compiled twin not built")
def test_twins_classify_every_code_point_alike() -> None:
    assert COMPILED is not None, "RUSTYCLAW_REQUIRE_EXTENSIONS is set but _tokens is not built"
    points = [cp for cp in range(0x11000) if not 0xD800 <= cp < 0xE000]
    points += [0x1F600, 0x20000, 0x3FFFF, 0x40000, 0x10FFFF]
    assert [COMPILED.char_class(cp) for cp in points] == [tokens_py.char_class(cp) for cp in points]


def test_message_overhead(twin: ModuleType) -> None:
    assert twin.message_overhead(False) == 3
    assert twin.message_overhead(True) == 4
    assert (twin.MESSAGE_OVERHEAD, twin.NAME_OVERHEAD, twin.REPLY_PRIMING) == (3, 1, 3)


@pytest.mark.parametrize(
    ("counts", "names", "expected"),
    [
        ([], None, 3),
        ([10], None, 16),
        ([10, 20], None, 39),
        ([10, 20], [True, False], 40),
        ((10, 20, 5), (True, True, True), 50),
        ([0, 0], [False, False], 9),
    ],
)
def test_count_messages(
    twin: ModuleType, counts: list[int], names: list[bool] | None, expected: int
) -> None:
    assert twin.count_messages(counts, names) == expected


def test_count_messages_wants_one_name_flag_per_message(twin: ModuleType) -> None:
    with pytest.raises(ValueError):
        twin.count_messages([1, 2], [True])
