"""Discord through hikari's gateway shard and REST client: DMs, guild channels, mention gating data, typing.

hikari is imported in a worker thread when the channel starts, so an idle gateway without
Discord never loads it and the event loop keeps serving meanwhile; `hikari_lean` imports only the
modules the channel uses (about 25 MB of RSS with aiohttp instead of 31). The channel runs what
hikari's GatewayBot would run for it, without the bot's cache, event manager and event factory
(`_Bot`): hikari's REST client (`RESTApp`), one `GatewayShardImpl`, and the two gateway events it
needs (READY, MESSAGE_CREATE, the message built by the REST client's entity factory); memory stays
flat in big guilds. `rest_url` points hikari's REST client at another server (tests use a local
stand-in); the gateway's websocket URL always comes from that server's `GET /gateway/bot`.

Reconnects: hikari's shard reconnects by itself when the websocket drops (resuming the session,
so events sent meanwhile are replayed) with its own backoff; while it does, `state` says
"reconnecting". A shard that stops for good (a revoked token, intents the application may not
use) ends the bot: `wait_stopped()` reports it and the supervisor starts the channel again
later. A start that fails (REST unreachable, token refused) raises ChannelError.

Replies go out as plain content split at 2000 characters, one after another; no reply pings
anyone (allowed mentions are empty), so a model cannot make the bot ping @everyone. In guild
channels the first piece quotes the question.

Voice notes: `fetch_media` downloads an attachment from its CDN url with httpx (no token: the
CDN urls are signed), stopping at the size cap. A reply's voice attachments go out after the
text as a message with the OGG/Opus file attached (hikari's multipart upload). It shows as an
audio file with a player, not as a Discord "voice message" (that needs a waveform and the
IS_VOICE_MESSAGE flag, which hikari's create_message does not set). Image attachments (a browser
screenshot) go out the same way, one message each, and Discord shows them inline.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import time
from typing import Any

import anyio

from rustyclaw.adapters.channels.daemon_thread import run_in_daemon_thread
from rustyclaw.adapters.channels.delivery import InboundDelivery
from rustyclaw.adapters.channels.discord_mapping import to_inbound
from rustyclaw.adapters.channels.send_retry import SendRetry, send_with_retry
from rustyclaw.adapters.channels.text_split import split_text
from rustyclaw.config.channels import DiscordConfig
from rustyclaw.domain.errors import ChannelError, ConfigError, DeliveryError, MissingExtraError
from rustyclaw.domain.messages import Attachment, InboundMessage, OutboundMessage
from rustyclaw.ports.channel import MEDIA_LIMIT, InboundHandler

log = logging.getLogger("rustyclaw.channels.discord")

API_VERSION_SUFFIX = re.compile(r"/api/v\d+/?$")
# Close codes after which hikari gives up; the messages say what the owner should fix.
_FATAL_HINTS = {
    4004: "the bot token was refused",
    4013: "the gateway intents are invalid",
    4014: "the Message Content intent is not enabled for this application "
          "(Developer Portal > Bot > Privileged Gateway Intents), or set messageContentIntent: false",
}


def _load_hikari() -> None:
    from rustyclaw.adapters.channels.hikari_lean import import_hikari

    try:
        import_hikari()
    except ImportError as exc:
        raise MissingExtraError("hikari", "discord", "The Discord channel") from exc


def normalise_rest_url(url: str | None) -> str | None:
    """`http://host:port` and `http://host:port/api/v10` both name Discord's REST API root."""
    if not url:
        return None
    url = url.rstrip("/")
    return url if API_VERSION_SUFFIX.search(url) else url + "/api/v10"


class DiscordChannel:
    """A Channel for one Discord bot (one `account`).

    `rest_retries` is how often hikari retries a REST call after a connection error (with its own
    backoff, about 9 s for 3) before the start or a send fails.
    `message_content_intent=False` drops the privileged Message Content intent: DMs and messages
    that mention the bot still carry their text, other guild messages arrive empty (and are
    dropped), which suits `requireMention: true` everywhere.
    """

    text_limit = 2000

    def __init__(
        self,
        token: str,
        *,
        rest_url: str | None = None,
        account: str = "default",
        name: str = "discord",
        message_content_intent: bool = True,
        rest_retries: int = 3,
        max_concurrent: int = 32,
        send_retry: SendRetry | None = None,
    ) -> None:
        if not token or not token.strip():
            raise ConfigError("channels.discord.token is required when the channel is enabled")
        self.name = name
        self.account = account
        self._token = token.strip()
        self._rest_url = normalise_rest_url(rest_url)
        self._message_content = message_content_intent
        self._rest_retries = rest_retries
        self._send_retry = send_retry or SendRetry()
        self._bot: Any = None
        # Send-only (see allow_send_only): hikari's REST client alone, opened on the first send
        # while the channel does not run here; no gateway connection, so no events arrive here.
        self._send_only = False
        self._send_rest: tuple[Any, Any] | None = None  # (RESTApp, its client)
        self._send_lock = asyncio.Lock()
        self.bot_id = 0
        self.username: str | None = None
        self._delivery = InboundDelivery(name, max_concurrent)
        self._watcher: asyncio.Task[None] | None = None
        self._closing = False
        self._stopped = asyncio.Event()
        self._stop_error: BaseException | None = None
        self.state = "stopped"
        self.last_error: str | None = None

    def __repr__(self) -> str:
        return f"DiscordChannel(account={self.account!r})"

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self, handler: InboundHandler) -> None:
        if self._bot is not None:
            return
        # A daemon thread: a SIGTERM during the import (about a second) never waits for it.
        await run_in_daemon_thread(_load_hikari, name="discord-import")
        bot = self._make_bot()
        self._delivery.handler = handler
        self._closing = False
        self._stopped = asyncio.Event()
        self._stop_error = None
        before = asyncio.all_tasks()
        try:
            await bot.start()
            if bot.me is None:  # READY always carries it; a stand-in might not
                user = await bot.rest.fetch_my_user()
                bot.me = {"id": str(user.id), "username": user.username}
            me = bot.me
        except BaseException as exc:
            # Also on cancellation (the supervisor's start timeout): a half-started bot would
            # otherwise keep reconnecting in the background forever.
            with anyio.CancelScope(shield=True):
                await self._close_bot(bot)
                await _stop_orphan_shards(before)
            if isinstance(exc, Exception):
                raise self._translate(exc, "start") from exc
            raise
        self._bot = bot
        self.bot_id, self.username = int(me["id"]), me["username"]
        self.state = "running"
        self.last_error = None
        self._delivery.resume_unfinished()
        self._watcher = asyncio.create_task(self._watch(bot), name=f"discord:{self.account}:watch")
        log.info("discord bot %s (%s) started", self.username, self.bot_id)

    def _make_bot(self) -> _Bot:
        from hikari.applications import get_token_id
        from hikari.intents import Intents

        intents = Intents.DM_MESSAGES | Intents.GUILD_MESSAGES
        if self._message_content:
            intents |= Intents.MESSAGE_CONTENT
        try:
            get_token_id(self._token)  # the bot id is the token's first part (GatewayBot checks it so too)
        except ValueError as exc:
            raise ConfigError("channels.discord.token does not look like a Discord bot token") from exc
        return _Bot(self, intents)

    async def aclose(self) -> None:
        bot = self._bot
        if bot is None or self._closing:
            return
        self._closing = True  # new events are ignored from here; running turns may still send
        self.state = "stopping"
        watcher, self._watcher = self._watcher, None
        await self._delivery.stop(watcher)
        self._bot = None
        self.state = "stopped"
        await self._close_bot(bot)
        self._stopped.set()

    def allow_send_only(self) -> None:
        """Lets `send()` work while the channel is not started (a follower replica's standby).

        Creating a message is a stateless REST call any process can make with the token; only
        the gateway connection (receiving) must stay on one replica. No I/O here: the REST
        client opens on the first send, so a follower that never sends never imports hikari.
        """
        self._send_only = True

    async def close_send_only(self) -> None:
        """Closes the send-only REST client, if a send opened one."""
        opened, self._send_rest = self._send_rest, None
        if opened is not None:
            app, client = opened
            with contextlib.suppress(Exception):
                await client.close()
                await app.close()

    async def _sender(self) -> Any:
        """What has a `.rest`: the running bot, else (send-only allowed) a REST-only holder, else None."""
        if self._bot is not None or not self._send_only:
            return self._bot
        async with self._send_lock:  # two turns sending at once share one client
            if self._send_rest is None:
                await run_in_daemon_thread(_load_hikari, name="discord-import")
                self._send_rest = await _open_rest(self._token, self._rest_url, self._rest_retries)
            return _RestOnly(self._send_rest[1])

    async def wait_stopped(self) -> BaseException | None:
        """Returns when receiving has stopped: None after `aclose()`, the error if the bot died."""
        await self._stopped.wait()
        return self._stop_error

    async def _watch(self, bot: Any) -> None:
        error: BaseException
        try:
            await bot.join()
            error = ChannelError(f"discord ({self.account}): the gateway connection ended")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = self._translate(exc, "gateway")
        if self._closing:
            return
        log.error("discord receiving stopped: %s", error)
        self.state = "failed"
        self.last_error = str(error)
        self._stop_error = error
        self._stopped.set()

    @staticmethod
    async def _close_bot(bot: _Bot) -> None:
        await bot.close()

    def _translate(self, exc: BaseException, action: str) -> ChannelError | ConfigError:
        from hikari import errors

        if isinstance(exc, (ChannelError, ConfigError)):
            return exc
        prefix = f"discord ({self.account})"
        if isinstance(exc, errors.UnauthorizedError):
            return ChannelError(f"{prefix}: the bot token was refused")
        if isinstance(exc, errors.GatewayServerClosedConnectionError):
            hint = _FATAL_HINTS.get(int(exc.code or 0), exc.reason)
            return ChannelError(f"{prefix}: the gateway closed the connection ({exc.code}): {hint}")
        if isinstance(exc, errors.HTTPResponseError):
            return ChannelError(f"{prefix} {action} failed: HTTP {int(exc.status)}: {exc.message or exc}")
        return ChannelError(f"{prefix} {action} failed: {type(exc).__name__}: {exc}")

    # -- receiving ----------------------------------------------------------------------------
    def _on_ready(self, user: dict[str, Any]) -> None:
        self.bot_id = int(user["id"])
        self.username = user.get("username")

    async def _on_connected(self) -> None:
        if self.state == "reconnecting":
            log.info("discord gateway connection restored")
        if self._bot is not None:
            self.state = "running"
            self.last_error = None

    async def _on_disconnected(self) -> None:
        if not self._closing and self._bot is not None:
            self.state = "reconnecting"
            self.last_error = "the gateway connection dropped; hikari is reconnecting"
            log.warning("discord gateway connection dropped; reconnecting")

    async def _on_message(self, entity: Any) -> None:
        # Not `self._bot is None`: the shard passes events on as soon as it is READY, a moment
        # before `start()` has stored the bot; a message in that moment must not be dropped.
        if self._closing:
            return
        message = to_inbound(
            entity, channel=self.name, account=self.account, bot_id=self.bot_id,
            received_at=time.time(),
        )
        if message is None:
            return
        # This runs in a task per event (as hikari's listeners do); the turn runs in a task of
        # the delivery's so that aclose() can end it.
        # Discord never sends an event twice nor waits for an acknowledgement: the journal keeps what
        # came in so that a restart still answers it, and its failure must not lose the message.
        try:
            await self._delivery.accept(message)
        except Exception as exc:
            log.error("discord message %s not journaled (%s); answering it anyway", message.message_id, exc)
            self._delivery.submit(message)

    # -- sending ------------------------------------------------------------------------------
    async def send(self, message: OutboundMessage) -> None:
        bot = await self._sender()
        if bot is None:
            raise ChannelError("discord: the channel is not running")
        try:
            channel_id = int(message.peer_id)
        except ValueError as exc:
            raise ChannelError(f"discord: {message.peer_id!r} is not a channel id") from exc
        reply: int | None = None
        if message.chat_kind != "direct" and message.reply_to and message.reply_to.isdigit():
            reply = int(message.reply_to)
        for piece in split_text(message.text, self.text_limit):
            await self._create(bot, channel_id, "create_message", content=piece,
                               reply=reply if reply is not None else _undefined())
            reply = None  # only the first piece quotes the question
        for attachment in message.attachments:
            if attachment.kind not in ("voice", "image") or not attachment.data:
                continue
            from hikari.files import Bytes

            default_name = "voice.ogg" if attachment.kind == "voice" else "image.png"
            await self._create(bot, channel_id, f"create_message ({attachment.kind})",
                               attachment=Bytes(attachment.data, attachment.name or default_name,
                                                       mimetype=attachment.mime),
                               reply=reply if reply is not None else _undefined())
            reply = None

    async def _create(self, bot: Any, channel_id: int, action: str, **fields: Any) -> None:
        """One create_message, retried on transient failures (hikari itself already waits out 429s)."""

        async def once() -> None:
            try:
                await bot.rest.create_message(
                    channel_id, reply_must_exist=False, mentions_everyone=False, user_mentions=False,
                    role_mentions=False, mentions_reply=False, **fields,
                )
            except Exception as exc:
                raise self._delivery_error(exc, action) from exc

        await send_with_retry(once, f"discord {action}", self._send_retry)

    def _delivery_error(self, exc: BaseException, action: str) -> DeliveryError:
        """Permanent: a 4xx client error (missing access, unknown channel, bad form); the rest
        (5xx, rate limits hikari would not wait out, network) may pass on a later try."""
        from hikari import errors

        text = str(self._translate(exc, action))
        if isinstance(exc, errors.RateLimitTooLongError):
            return DeliveryError(text, transient=True, retry_after=float(exc.retry_after))
        if isinstance(exc, errors.ClientHTTPResponseError):
            return DeliveryError(text, transient=int(exc.status) == 429)
        return DeliveryError(text, transient=True)

    async def fetch_media(self, attachment: Attachment, max_bytes: int = MEDIA_LIMIT) -> bytes:
        """The bytes of a received attachment, from its CDN url."""
        import httpx

        url = attachment.url or ""
        if not url.startswith(("https://", "http://")):
            raise ChannelError("discord: the attachment carries no download url")
        if attachment.size is not None and attachment.size > max_bytes:
            raise ChannelError(f"discord: the attachment is larger than {max_bytes} bytes")
        data = bytearray()
        try:
            async with (
                httpx.AsyncClient(timeout=60, follow_redirects=True) as client,
                client.stream("GET", url) as response,
            ):
                if response.status_code >= 300:
                    raise ChannelError(f"discord attachment download failed: HTTP {response.status_code}")
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > max_bytes:
                        raise ChannelError(f"discord: the attachment is larger than {max_bytes} bytes")
        except ChannelError:
            raise
        except Exception as exc:
            raise ChannelError(f"discord attachment download failed: {type(exc).__name__}: {exc}") from exc
        return bytes(data)

    async def typing(self, message: InboundMessage) -> None:
        bot = self._bot
        if bot is None:
            return
        try:
            await bot.rest.trigger_typing(int(message.peer_id))
        except Exception as exc:  # a typing indicator is decoration; never fail a turn for it
            log.debug("discord typing failed (ignored): %s", exc)


class _RestOnly:
    """Stands for the bot in `_create`, which only needs its `.rest` client."""

    def __init__(self, rest: Any) -> None:
        self.rest = rest


async def _open_rest(token: str, url: str | None, retries: int) -> tuple[Any, Any]:
    """hikari's REST application and a started client for the bot token."""
    from hikari.applications import TokenType
    from hikari.impl.rest import RESTApp

    app = RESTApp(url=url, max_retries=retries, http_settings=_http_settings())
    await app.start()
    client = app.acquire(token, TokenType.BOT)
    client.start()
    return app, client


@functools.cache
def _http_settings() -> Any:
    """One `HTTPSettings` for every hikari client of the process (REST, shard, send-only REST).

    Each `HTTPSettings()` builds its own TLS context holding the system's CA store (about 0.8 MB
    each); the settings are immutable in use, so the REST client and the shard share one.
    """
    from hikari.impl.config import HTTPSettings

    return HTTPSettings()


class _Bot:
    """What hikari's GatewayBot runs for this channel: the REST client and one gateway shard.

    It is also the shard's event manager and event factory (the shard calls `consume_raw_event`,
    `dispatch` and the two `deserialize_*_event` below, nothing else): READY gives the bot's user,
    MESSAGE_CREATE a message (built by the REST client's entity factory, as GatewayBot's event
    factory does) handled in a task of its own; the other events Discord sends for these intents
    are dropped, as GatewayBot drops events nobody listens to. No cache.
    """

    def __init__(self, channel: DiscordChannel, intents: Any) -> None:
        self._channel = channel
        self._intents = intents
        self._app: Any = None
        self.rest: Any = None
        self.shard: Any = None
        self.me: dict[str, Any] | None = None  # the bot's user, from READY
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        from hikari.impl.config import ProxySettings
        from hikari.impl.shard import GatewayShardImpl

        channel = self._channel
        self._app, self.rest = await _open_rest(channel._token, channel._rest_url, channel._rest_retries)
        info = await self.rest.fetch_gateway_bot_info()
        limit = info.session_start_limit
        if limit.remaining <= 0:
            raise ChannelError(
                f"discord ({channel.account}): the bot used up its gateway session starts; "
                f"Discord allows more in {limit.reset_after}"
            )
        events: Any = self  # duck-typed: the four methods the shard calls
        self.shard = GatewayShardImpl(
            http_settings=_http_settings(), proxy_settings=ProxySettings(), event_manager=events,
            event_factory=events, intents=self._intents, token=channel._token, url=info.url,
        )
        await self.shard.start()

    async def join(self) -> None:
        """Returns when the shard stopped after `close()`; raises what ended it otherwise."""
        await self.shard.join()

    async def close(self) -> None:
        shard, self.shard = self.shard, None
        if shard is not None and shard.is_alive:
            with contextlib.suppress(Exception):
                await shard.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for closing in (self.rest, self._app):
            if closing is not None:
                with contextlib.suppress(Exception):
                    await closing.close()
        self.rest = self._app = None

    # -- the shard's event manager and event factory -------------------------------------------
    def consume_raw_event(self, name: str, shard: Any, payload: dict[str, Any]) -> None:
        if name == "READY":
            self.me = payload["user"]
            self._channel._on_ready(payload["user"])
        elif name == "MESSAGE_CREATE":
            task = asyncio.create_task(self._message(payload), name="discord:message")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _message(self, payload: dict[str, Any]) -> None:
        try:
            rest = self.rest
            if rest is None:
                return
            entity = rest.entity_factory.deserialize_message(payload)
            await self._channel._on_message(entity)
        except Exception:
            log.exception("discord: a MESSAGE_CREATE event could not be handled")

    def deserialize_connected_event(self, shard: Any) -> str:
        return "connected"

    def deserialize_disconnected_event(self, shard: Any) -> str:
        return "disconnected"

    async def dispatch(self, event: str, *, return_tasks: bool = False) -> None:
        if event == "connected":
            await self._channel._on_connected()
        elif event == "disconnected":
            await self._channel._on_disconnected()


async def _stop_orphan_shards(before: set[asyncio.Task[Any]]) -> None:
    """Cancels shard loops hikari started since `before` and lost track of.

    hikari registers a shard with the bot only once its handshake completed; a start cancelled
    before that (a gateway that never says HELLO) leaves the shard's shielded keep-alive task
    running, and `bot.close()` cannot see it. Cancelling that task is what `shard.close()` does.
    """
    orphans = []
    for task in asyncio.all_tasks() - before:
        coro = task.get_coro()
        if getattr(coro, "__qualname__", "").startswith("GatewayShardImpl.") and not task.done():
            task.cancel()
            orphans.append(task)
    if orphans:
        await asyncio.gather(*orphans, return_exceptions=True)


def _undefined() -> Any:
    from hikari.undefined import UNDEFINED

    return UNDEFINED


def discord_channel_from_config(section: DiscordConfig, *, account: str = "default") -> DiscordChannel:
    """Builds the channel from the validated `channels.discord` section (no I/O)."""
    if not section.token:
        raise ConfigError("channels.discord.token is required when the channel is enabled")
    return DiscordChannel(
        section.token,
        rest_url=section.rest_base_url,
        account=account,
        message_content_intent=section.message_content_intent,
    )
