"""The gateway service: one inbound message through access, routing, commands and the agent."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import anyio
import msgspec

from rustyclaw.domain import commands, media_notice
from rustyclaw.domain import voice as voice_rules
from rustyclaw.domain.agent import AgentRunner, Commit, TurnOutcome, new_message_id
from rustyclaw.domain.bindings import bound_agent
from rustyclaw.domain.compaction import summary_section
from rustyclaw.domain.elevation import ElevationGate, elevated_command
from rustyclaw.domain.errors import (
    AudioError,
    ContextOverflowError,
    InvalidInputError,
    LLMError,
    LLMUnavailableError,
    MediaError,
)
from rustyclaw.domain.events import Reply, TurnStarted
from rustyclaw.domain.maintenance import ContextMaintenance
from rustyclaw.domain.messages import ChatMessage, InboundMessage, SessionEntry
from rustyclaw.domain.prompt import PromptBuilder
from rustyclaw.domain.reply_media import ReplyMedia
from rustyclaw.domain.session_keys import agent_of, session_key
from rustyclaw.domain.sessions import SessionService
from rustyclaw.domain.settings import AgentSettings
from rustyclaw.domain.task_routing import (
    SUMMARY_TASK,
    VISION_TASK,
    images_of,
    routes_task,
    text_task,
    turn_model,
    turn_task,
)
from rustyclaw.ports.clock import Clock
from rustyclaw.ports.gateway import Emit, MediaResolver
from rustyclaw.ports.llm import LLMClient
from rustyclaw.ports.plugins import TurnHooks
from rustyclaw.ports.tools import ToolContext
from rustyclaw.ports.voice import VoiceNotes

log = logging.getLogger("rustyclaw.gateway")


class AccessDecision(msgspec.Struct, frozen=True, kw_only=True):
    allowed: bool
    # What to tell a sender who is not served (a pairing code, a rate-limit notice); None = silence.
    reply: str | None = None


class AccessGate(Protocol):
    async def check(self, message: InboundMessage) -> AccessDecision: ...


class OpenAccess:
    """Serves everyone: the web channel's own bearer token is its access control."""

    async def check(self, message: InboundMessage) -> AccessDecision:
        return AccessDecision(allowed=True)


def turn_timeout_notice(seconds: float | None) -> str:
    return (
        f"Sorry, this took too long: the turn ran out of its time (gateway.requestTimeoutSeconds, "
        f"{seconds:g} s) before the answer was finished. What was done so far is kept; ask again to go on."
    )


def describe_llm_error(exc: LLMError) -> str:
    if isinstance(exc, LLMUnavailableError):
        # What to do first, the library's words last: a new user meets this before anything else.
        return (
            "The model could not answer: it is not reachable. Start your model server "
            "(for example `ollama serve`) or point `llm.providers` in config.yaml at one that runs; "
            f"`rustyclaw doctor` checks the setup and says what to fix. (Details: {exc})"
        )
    return f"Sorry, the model could not answer: {exc}"


async def _resolved(message: InboundMessage, media: MediaResolver, kinds: frozenset[str]) -> InboundMessage:
    """The message with the bytes of its attachments of these kinds; the others are left as they
    came, so nothing is downloaded that the turn will not use."""
    wanted = tuple(a for a in message.attachments if a.kind in kinds)
    fetched = await media(msgspec.structs.replace(message, attachments=wanted))
    rest = tuple(a for a in message.attachments if a.kind not in kinds)
    return msgspec.structs.replace(message, attachments=(*fetched.attachments, *rest))


class _TooLongAfterAll(Exception):
    """The server's real window turned out too small for the user's message."""

    def __init__(self, notice: str) -> None:
        super().__init__(notice)
        self.notice = notice


class Gateway:
    def __init__(
        self,
        sessions: SessionService,
        agent: AgentRunner,
        prompts: PromptBuilder,
        llm: LLMClient,
        clock: Clock,
        settings: AgentSettings,
        access: AccessGate | None = None,
        elevation: ElevationGate | None = None,
        voice: VoiceNotes | None = None,
        hooks: TurnHooks | None = None,
        maintenance: ContextMaintenance | None = None,
        loaded_models: Callable[[], Awaitable[list[str]]] | None = None,
    ) -> None:
        self.sessions = sessions
        # What the model servers have loaded now (llm.cache), for `/model`; None: not known here.
        self._loaded_models = loaded_models
        # The model's real window, the too-long check and compaction (None: the configured window only).
        self._maintenance = maintenance
        self._agent = agent
        self._prompts = prompts
        self._llm = llm
        self._clock = clock
        self._settings = settings
        self._access: AccessGate = access or OpenAccess()
        self._elevation = elevation
        self._voice = voice
        self._hooks = hooks
        # Images tools made during a turn (browser screenshots) go out with its reply; None: none.
        self.media: ReplyMedia | None = None
        self._ready = False
        self.turns_total = 0

    def mark_ready(self, ready: bool = True) -> None:
        self._ready = ready

    def ready(self) -> bool:
        return self._ready

    async def status(self) -> dict[str, Any]:
        return {"ready": self._ready, "turns": self.turns_total, "model": self._llm.model_for("default")}

    def agent_for(self, message: InboundMessage) -> str:
        if message.target_key is not None:
            return agent_of(message.target_key)
        hint = message.agent_hint
        if hint is not None and hint in self._settings.agent_ids:
            return hint
        # OpenClaw's bindings: the most specific match (peer > guild > team > account > channel).
        bound = bound_agent(self._settings.bindings, message)
        return bound.agent_id if bound is not None else self._settings.default_agent

    def key_for(self, message: InboundMessage) -> str:
        if message.target_key is not None:
            return message.target_key
        return session_key(message, self.agent_for(message), self.sessions.settings)

    def _validate(self, message: InboundMessage) -> None:
        limit = self._settings.max_message_chars
        if len(message.text) > limit:
            raise InvalidInputError(
                f"the message has {len(message.text)} characters; the limit is {limit} "
                "(gateway.maxMessageChars)"
            )
        if not message.text.strip() and not message.attachments:
            raise InvalidInputError("the message is empty")

    async def handle(
        self, message: InboundMessage, emit: Emit | None = None, media: MediaResolver | None = None
    ) -> Reply | None:
        # Access first: a sender who is not served learns nothing about our limits.
        decision = await self._access.check(message)
        key = self.key_for(message)
        if not decision.allowed:
            if decision.reply is None:
                return None
            return Reply(text=decision.reply, session_key=key, session_id="", command="access")
        images = media_notice.unseen_images(message)
        # An image goes to the model only on a vision route; without one the user is told so.
        vision = images and routes_task(self._settings, self.agent_for(message), VISION_TASK)
        # Media is fetched only where it is used: voice notes when speech to text can take them,
        # images when a vision route will see them (no download otherwise).
        listening = self._voice is not None and self._voice.can_listen
        wanted = frozenset(voice_rules.VOICE_KINDS if listening else ()) | frozenset(("image",) if vision else ())
        if media is not None and any(a.kind in wanted for a in message.attachments):
            try:
                message = await _resolved(message, media, wanted)
            except MediaError as exc:
                return Reply(text=str(exc), session_key=key, session_id="",
                             command="voice" if isinstance(exc, AudioError) else "media", error=str(exc))
        # A voice note becomes the user's text here, so spoken slash commands work too.
        heard = await voice_rules.listen(self._voice, message)
        if heard.problem is not None:
            return Reply(text=heard.problem, session_key=key, session_id="", command="voice",
                         error=heard.problem, transcript=heard.transcript)
        message = heard.message
        if images and not vision and not message.text.strip():
            return Reply(text=media_notice.IMAGE_NOTICE, session_key=key, session_id="", command="media")
        self._validate(message)
        if self._hooks is not None:
            # Plugins see a message after access and transcription, before commands and the agent.
            outcome = await self._hooks.before_turn(message, key)
            if isinstance(outcome, Reply):
                return outcome
            if outcome is not None:
                message = outcome

        if message.options is not None and message.options.history is not None:
            reply = await self._stateless_turn(key, message, message.options.history, emit, bool(vision))
            return media_notice.with_caption_notice(reply) if images and not vision else reply

        command = commands.parse_command(message.text, self.sessions.settings.reset_triggers)
        if command is not None and command.name in commands.UNLOCKED:
            return self._unlocked_command(command, key)

        async with self.sessions.turn(key):
            entry, seen = await self.sessions.open_seen(key, message)
            if seen:
                if not message.redelivered:
                    log.info("duplicate inbound dropped", extra={"session": key})
                    return None
                resumed = await self._resume(entry, message, emit)
                if resumed is None:
                    return None
                return await voice_rules.speak_reply(self._voice, resumed, entry.tts, heard)
            if command is not None:
                reply = await self._locked_command(command, entry, message)
            else:
                reply = await self._turn(entry, message, emit)
            if images and not vision:
                reply = media_notice.with_caption_notice(reply)
            return await voice_rules.speak_reply(self._voice, reply, entry.tts, heard)

    async def _stateless_turn(
        self, key: str, message: InboundMessage, history: Sequence[ChatMessage], emit: Emit | None,
        vision: bool = False,
    ) -> Reply:
        """A turn over the client's own conversation (OpenAI clients that send it all each time):
        the agent's prompt and tools apply, no session is opened and nothing is stored. The last
        user message's images go to the vision route when there is one."""
        agent_id = self.agent_for(message)
        working = [self._agent.stamp(msgspec.structs.replace(m)) for m in history]

        async def keep_nothing(step: Sequence[ChatMessage]) -> None:
            return None

        task = VISION_TASK if vision else "default"
        images = images_of(message) if vision else ()
        model = turn_model(self._settings, agent_id, task, None)
        tool_context = ToolContext(
            agent_id=agent_id, session_key=key, session_id="", channel=message.channel,
            sender_id=message.sender_id, elevated=False, model=model or self._llm.model_for("default"),
        )
        if emit is not None:
            await emit(TurnStarted(session_key=key))
        try:
            outcome = await self._agent.run(
                self._prompts.build(agent_id), working, tool_context,
                commit=keep_nothing, emit=emit, model=model, task=task, options=message.options, images=images,
            )
        except LLMError as exc:
            log.warning("stateless turn failed: %s", exc, extra={"session": key})
            text = describe_llm_error(exc)
            return Reply(text=text, session_key=key, session_id="", finish_reason="error", error=text)
        finally:
            self.turns_total += 1
        return Reply(text=outcome.text, session_key=key, session_id="", model=outcome.model,
                     usage=outcome.usage, finish_reason=outcome.finish_reason)

    def _unlocked_command(self, command: commands.Command, key: str) -> Reply:
        if command.name == "stop":
            text = "Stopped." if self.sessions.stop(key) else "Nothing is running."
        elif command.name == "unknown":
            text = commands.unknown_text(command.args)
        elif command.name == "start":
            text = commands.START_TEXT
        else:
            text = commands.HELP_TEXT
        return Reply(text=text, session_key=key, session_id="", command=command.name)

    async def _locked_command(
        self, command: commands.Command, entry: SessionEntry, message: InboundMessage
    ) -> Reply:
        if command.name == "reset":
            entry = await self.sessions.reset(entry.key)
            text = "New session started."
        elif command.name == "status":
            history = await self.sessions.history(entry)
            text = commands.status_text(
                entry, self._model_of(entry), len(history), await self._window(entry)
            )
        elif command.name == "compact":
            text = await self._compact_command(entry, message, command.args)
        elif command.name == "elevated":
            refusal = (
                "elevated mode is not available (no tool policy is configured)" if self._elevation is None
                else self._elevation.elevation_refusal(entry.agent_id, message.channel, message.sender_id)
            )
            text = elevated_command(entry, command.args, refusal)
            await self.sessions.touch(entry, message)
        elif command.name == "tts":
            voice = self._voice
            text = voice_rules.tts_command(entry, command.args, voice.auto if voice else "off",
                                           voice is not None and voice.can_speak)
            await self.sessions.touch(entry, message)
        else:  # model
            providers = {ref.split("/", 1)[0] for ref in self._llm.known_models()}
            text = commands.model_command(
                entry, command.args, self._model_of(entry), self._llm.known_models(),
                lambda ref: "/" in ref and ref.split("/", 1)[0] in providers,
            )
            if not command.args.strip() and self._loaded_models is not None:
                loaded = await self._loaded_models()
                text += "\nLoaded now: " + (", ".join(loaded) or "none")
            await self.sessions.touch(entry, message)
        return Reply(text=text, session_key=entry.key, session_id=entry.session_id, command=command.name)

    def _model_of(self, entry: SessionEntry) -> str:
        return entry.model or self._settings.agent_models.get(entry.agent_id) or self._llm.model_for("default")

    async def _window(self, entry: SessionEntry) -> int:
        if self._maintenance is None:
            return self._settings.context_tokens
        return await self._maintenance.windows.window_for(self._model_of(entry))

    def _tool_context(self, entry: SessionEntry, message: InboundMessage) -> ToolContext:
        return ToolContext(
            agent_id=entry.agent_id, session_key=entry.key, session_id=entry.session_id,
            channel=message.channel, sender_id=message.sender_id,
            elevated=entry.elevated_level != "off", model=self._model_of(entry),
        )

    async def _compact_command(self, entry: SessionEntry, message: InboundMessage, focus: str) -> str:
        maintenance = self._maintenance
        if maintenance is None:
            return "Compaction is not available here."
        window = await self._window(entry)
        fixed = self._agent.fixed_tokens(self._prompts.build(entry.agent_id, entry.key),
                                         self._tool_context(entry, message))
        async with self.sessions.running(entry.key):
            prepared = await maintenance.prepare(
                entry, await maintenance.view(entry), fixed, window, self._session_model(entry),
                force=True, instructions=focus,
            )
        await self.sessions.touch(entry, message)
        return commands.compact_text(prepared.report)

    def _session_model(self, entry: SessionEntry) -> str | None:
        """The model compaction and memory notes name; None when the agent routes `summary` itself."""
        return turn_model(self._settings, entry.agent_id, SUMMARY_TASK, entry.model)

    async def _resume(self, entry: SessionEntry, message: InboundMessage, emit: Emit | None) -> Reply | None:
        """A journaled message the gateway stored before a restart: its reply if the turn had ended
        (it was never delivered), else the turn finished from where its stored steps stop."""
        history = await self.sessions.history(entry)
        at = next((i for i in range(len(history) - 1, -1, -1)
                   if history[i].role == "user" and history[i].inbound_id == message.message_id), None)
        if at is None:
            return None
        after = history[at + 1:]
        if any(m.role == "user" for m in after):
            return None  # later messages were answered since: this turn is over
        final = next((m for m in reversed(after) if m.role == "assistant" and not m.tool_calls), None)
        if final is not None:
            log.info("journaled message already answered; sending its reply", extra={"session": entry.key})
            return Reply(text=final.content, session_key=entry.key, session_id=entry.session_id,
                         model=str(final.meta.get("model", "")))
        log.info("finishing a turn interrupted by a restart", extra={"session": entry.key})
        return await self._turn(entry, message, emit, stored=history[at])

    async def _turn(
        self, entry: SessionEntry, message: InboundMessage, emit: Emit | None, stored: ChatMessage | None = None
    ) -> Reply:
        """One turn; `stored` is the user's message already in the session (a resumed turn)."""
        user = stored or ChatMessage(
            role="user",
            content=message.text,
            id=new_message_id(),
            created_at=self._clock.now(),
            inbound_id=message.message_id,
        )
        if message.sender_name and stored is None:
            user.meta["sender"] = message.sender_name
        if stored is None and images_of(message):
            # The image bytes are not stored; the history keeps that the message had them.
            user.meta["images"] = [a.mime for a in images_of(message)]
        self._agent.stamp(user)  # counted once here, stored with its count
        tool_context = self._tool_context(entry, message)
        base_prompt = self._prompts.build(entry.agent_id, entry.key)
        maintenance = self._maintenance
        window = await self._window(entry)
        too_long = None
        if maintenance is not None and stored is None:
            fixed = self._agent.fixed_tokens(base_prompt, tool_context, message.options)
            too_long = maintenance.too_long(
                user, window, fixed + self._agent.completion_tokens(window, message.options))
            if too_long is not None:
                # Stored (nothing accepted is lost) but never sent: it would break every later turn.
                maintenance.exclude(user)
        # The user's message is stored before the model is asked: nothing accepted is lost.
        if stored is None:
            with anyio.CancelScope(shield=True):
                await self.sessions.append(entry, [user])
        if too_long is not None:
            await self.sessions.touch(entry, message)
            return Reply(text=too_long.notice(), session_key=entry.key, session_id=entry.session_id,
                         finish_reason="too_long")

        # The run's last step (its final answer) is held back and written with the session's row
        # after the run, in one transaction (SessionService.finish_turn): the agent returns right
        # after committing it, and the reply goes out only once finish_turn has stored both.
        last: list[ChatMessage] = []

        async def commit(step: Sequence[ChatMessage]) -> None:
            if step and step[-1].role == "assistant" and not step[-1].tool_calls:
                last[:] = step
                return
            with anyio.CancelScope(shield=True):
                await self.sessions.append(entry, step)

        if emit is not None:
            await emit(TurnStarted(session_key=entry.key))
        outcome: TurnOutcome | None = None
        error: str | None = None
        async with self.sessions.running(entry.key) as scope:
            try:
                # The whole turn (every model call and tool) within gateway.requestTimeoutSeconds.
                with anyio.move_on_after(self._settings.turn_timeout_seconds or math.inf) as deadline:
                    outcome = await self._run_in_window(entry, message, user, base_prompt, tool_context,
                                                        window, commit, emit)
                if deadline.cancelled_caught:
                    error = turn_timeout_notice(self._settings.turn_timeout_seconds)
                    log.warning("turn stopped: %s", error, extra={"session": entry.key})
            except LLMError as exc:
                log.warning("turn failed: %s", exc, extra={"session": entry.key})
                error = describe_llm_error(exc)
            except _TooLongAfterAll as late:
                error = late.notice
                assert maintenance is not None
                await maintenance.exclude_stored(entry, user)
        self.turns_total += 1
        with anyio.CancelScope(shield=True):
            if outcome is not None:
                entry.input_tokens += outcome.usage.prompt_tokens
                entry.output_tokens += outcome.usage.completion_tokens
                entry.total_tokens = entry.input_tokens + entry.output_tokens
                entry.context_tokens = outcome.prompt_tokens
            await self.sessions.finish_turn(entry, message, last)
        media = self.media.take(entry.key) if self.media is not None else ()  # never left for a later turn
        if scope.cancelled_caught:
            # The /stop caller already got "Stopped."; the cancelled turn itself says nothing more.
            return Reply(text="", session_key=entry.key, session_id=entry.session_id,
                         finish_reason="cancelled")
        if outcome is None:
            text = error or "Sorry, something went wrong."
            return Reply(text=text, session_key=entry.key, session_id=entry.session_id,
                         finish_reason="error", error=text)
        return Reply(
            text=outcome.text, session_key=entry.key, session_id=entry.session_id, model=outcome.model,
            usage=outcome.usage, finish_reason=outcome.finish_reason, attachments=media,
        )

    async def _run_in_window(
        self, entry: SessionEntry, message: InboundMessage, user: ChatMessage, base_prompt: str,
        tool_context: ToolContext, window: int, commit: Commit, emit: Emit | None,
    ) -> TurnOutcome:
        """The agent's run inside the session's active view (the latest summary plus what follows),
        compacted first when it nears the window; a server that still finds the prompt too long
        teaches its window and gets one retry after a forced compaction."""
        task = turn_task(message)  # llm.routes.<task> (vision, code, fast), default when unrouted
        images = images_of(message) if task == VISION_TASK else ()
        if task == VISION_TASK and not (routes_task(self._settings, entry.agent_id, task)
                                        and all(a.data is not None or a.url for a in images)):
            # No model sees images here (the user was told): the caption is routed as text.
            task, images = text_task(message.text), ()
        model = turn_model(self._settings, entry.agent_id, task, entry.model)
        maintenance = self._maintenance
        if maintenance is None:
            history = await self.sessions.history(entry)
            return await self._agent.run(base_prompt, history, tool_context, commit=commit, emit=emit,
                                         model=model, task=task, options=message.options, images=images)
        fixed = self._agent.fixed_tokens(base_prompt, tool_context, message.options)
        session_model = self._session_model(entry)
        prepared = await maintenance.prepare(entry, await maintenance.view(entry), fixed, window, session_model)
        for attempt in (1, 2):
            try:
                return await self._agent.run(
                    base_prompt + summary_section(prepared.view.summary), prepared.view.messages, tool_context,
                    commit=commit, emit=emit, model=model, task=task, options=message.options, context_tokens=window,
                    images=images,
                )
            except ContextOverflowError as exc:
                if attempt == 2:
                    raise
                model_ref = self._model_of(entry)
                maintenance.windows.learn(model_ref, exc, window)
                window = await maintenance.windows.window_for(model_ref)
                late = maintenance.too_long(
                    user, window, fixed + self._agent.completion_tokens(window, message.options))
                if late is not None:
                    raise _TooLongAfterAll(late.notice()) from exc
                prepared = await maintenance.prepare(
                    entry, await maintenance.view(entry), fixed, window, session_model, force=True)
        raise AssertionError("unreachable")  # the loop returns or raises
