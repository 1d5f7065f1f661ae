"""Telegram through aiogram 3: long polling or webhook, direct chats, groups and forum topics.

aiogram is imported when the channel starts, so an idle gateway without Telegram never loads it.
Polling runs its own `getUpdates` loop: after an empty poll it waits `poll_interval` (local Bot API
servers and emulators may answer at once instead of holding the long poll), and network or
server errors back off exponentially (capped at 30 s) while `state` says "reconnecting"; only a
refused token ends the loop (reported through `wait_stopped()` to the supervisor). In webhook
mode the gateway's HTTP app mounts `webhook_asgi_app()` (or calls `handle_webhook`), which
answers 403 unless the `X-Telegram-Bot-Api-Secret-Token` header matches, 400 for a payload that
is not an update, and 200 at once for a good one: the turn runs in the background so Telegram
never times out and redelivers. Replies go out as plain text (no parse mode: the model's
Markdown can never make Telegram refuse a message), split at 4096 UTF-16 units.

Voice notes: `fetch_media` downloads a received file (`getFile`, then the Bot API's file URL
`<base>/file/bot<token>/<file_path>` through aiogram's session, stopping at the size cap);
an OutboundMessage's voice attachments go out with `sendVoice` (a multipart upload of the
OGG/Opus bytes) after its text, and its image attachments (a browser screenshot) with `sendPhoto`
(a multipart upload of the image bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re

# hmac's constant-time comparison itself (hmac.compare_digest falls back to it): importing hmac
# loads hashlib and OpenSSL's _hashlib, 0.6 MB the Telegram process has no other use for.
from _operator import _compare_digest as compare_digest
from collections.abc import Mapping
from typing import Any, Literal

from rustyclaw.adapters.channels.backoff import Backoff
from rustyclaw.adapters.channels.daemon_thread import run_in_daemon_thread
from rustyclaw.adapters.channels.delivery import InboundDelivery, RecentIds
from rustyclaw.adapters.channels.send_retry import SendRetry, send_with_retry
from rustyclaw.adapters.channels.telegram_mapping import file_id_of, to_inbound
from rustyclaw.adapters.channels.text_split import split_text
from rustyclaw.adapters.channels.webhook_asgi import ASGIApp, webhook_app
from rustyclaw.config.channels import TelegramConfig
from rustyclaw.domain.commands import menu
from rustyclaw.domain.errors import ChannelError, ConfigError, DeliveryError, MissingExtraError
from rustyclaw.domain.messages import Attachment, InboundMessage, OutboundMessage
from rustyclaw.ports.channel import MEDIA_LIMIT, InboundHandler

log = logging.getLogger("rustyclaw.channels.telegram")

Mode = Literal["polling", "webhook"]
SECRET_HEADER = "x-telegram-bot-api-secret-token"
ALLOWED_UPDATES = ["message", "channel_post"]
_SECRET_SHAPE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_SEEN_UPDATES = 2048


def _load_aiogram() -> None:
    try:
        # The lean import (validators built on first use) and aiogram's session over the lean
        # HTTP/1.1 client (httpx only when a proxy applies: aiogram_http11.session_for).
        import rustyclaw.adapters.channels.aiogram_http11  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError("aiogram", "telegram", "The Telegram channel") from exc


def _json(obj: Any) -> bytes:
    return json.dumps(obj).encode()


class TelegramChannel:
    """A Channel for one Telegram bot (one `account`).

    `api_base_url` points at a local Bot API server or an emulator (default: api.telegram.org).
    Webhook mode needs `webhook_secret`; with `webhook_url` the channel registers the webhook
    itself at start (otherwise it is assumed to be registered already).
    """

    text_limit = 4096

    def __init__(
        self,
        token: str,
        *,
        api_base_url: str | None = None,
        mode: Mode = "polling",
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        account: str = "default",
        name: str = "telegram",
        poll_interval: float = 1.0,
        long_poll_timeout: int = 25,
        max_concurrent: int = 32,
        backoff: Backoff | None = None,
        send_retry: SendRetry | None = None,
    ) -> None:
        if mode not in ("polling", "webhook"):
            raise ConfigError(f"channels.telegram.mode: {mode!r} is not polling or webhook")
        if mode == "webhook":
            if not webhook_secret:
                raise ConfigError("channels.telegram.webhookSecret is required in webhook mode")
            if not _SECRET_SHAPE.match(webhook_secret):
                raise ConfigError(
                    "channels.telegram.webhookSecret: 1-256 characters of A-Z, a-z, 0-9, _ and -"
                )
        self.name = name
        self.account = account
        self.mode: Mode = mode
        self._token = token
        self._api_base_url = api_base_url.rstrip("/") if api_base_url else None
        self._webhook_url = webhook_url
        self._webhook_secret = webhook_secret
        self._poll_interval = poll_interval
        self._long_poll_timeout = long_poll_timeout
        self._backoff = backoff or Backoff()
        self._send_retry = send_retry or SendRetry()
        self._bot: Any = None
        # Send-only (see allow_send_only): a Bot API client opened on the first send while the
        # channel does not run here; it never polls, so receiving stays wherever the channel runs.
        self._send_only = False
        self._send_bot: Any = None
        self._send_lock = asyncio.Lock()
        self._bot_id = 0
        self.username: str | None = None
        self._delivery = InboundDelivery(name, max_concurrent)
        self._poller: asyncio.Task[None] | None = None
        self._seen = RecentIds(_SEEN_UPDATES)
        self._stopped = asyncio.Event()
        self._stop_error: BaseException | None = None
        self.state = "stopped"
        self.last_error: str | None = None

    def __repr__(self) -> str:
        return f"TelegramChannel(account={self.account!r}, mode={self.mode!r})"

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self, handler: InboundHandler) -> None:
        if self._bot is not None:
            return
        # Importing aiogram takes a few tenths of a second even lean (aiogram_lean): a daemon thread
        # keeps the event loop serving meanwhile, and a SIGTERM never waits for the import.
        await run_in_daemon_thread(_load_aiogram, name="telegram-import")
        bot = self._make_bot()
        self._stopped = asyncio.Event()
        self._stop_error = None
        try:
            me = await bot.get_me()
            if self.mode == "polling":
                await self._drop_webhook(bot)
            elif self._webhook_url:
                await bot.set_webhook(
                    self._webhook_url, secret_token=self._webhook_secret, allowed_updates=ALLOWED_UPDATES
                )
        except Exception as exc:
            await self._close_session(bot)
            raise self._translate(exc, "start") from exc
        self._bot, self._bot_id, self.username = bot, me.id, me.username
        await self._publish_commands(bot)
        self._delivery.handler = handler
        self.state = "running"
        self.last_error = None
        self._delivery.resume_unfinished()
        if self.mode == "polling":
            self._poller = asyncio.create_task(self._poll(), name=f"telegram:{self.account}:poll")
        log.info("telegram bot @%s started (%s)", self.username, self.mode)

    async def _publish_commands(self, bot: Any) -> None:
        """setMyCommands: Telegram's command menu lists the gateway's own commands."""
        from aiogram.types import BotCommand

        try:
            await bot.set_my_commands([BotCommand(command=name, description=text) for name, text in menu()])
        except Exception as exc:  # a menu is decoration; some local Bot API servers lack the method
            log.debug("telegram setMyCommands failed (ignored): %s", exc)

    async def aclose(self) -> None:
        bot = self._bot
        if bot is None or self.state == "stopping":
            return
        self.state = "stopping"
        poller, self._poller = self._poller, None
        # The poll loop ends first (nothing new is confirmed); running turns may still send meanwhile.
        await self._delivery.stop(poller)
        self._bot = None
        self.state = "stopped"
        await self._close_session(bot)
        self._stopped.set()

    async def wait_stopped(self) -> BaseException | None:
        """Returns when receiving has stopped: None after `aclose()`, the error if it died."""
        await self._stopped.wait()
        return self._stop_error

    def allow_send_only(self) -> None:
        """Lets `send()` work while the channel is not started (a follower replica's standby).

        Sending is a stateless Bot API call any process can make with the token; only receiving
        (getUpdates) must stay on one replica. No I/O here: the client opens on the first send.
        """
        self._send_only = True

    async def close_send_only(self) -> None:
        """Closes the send-only client, if a send opened one."""
        bot, self._send_bot = self._send_bot, None
        if bot is not None:
            await self._close_session(bot)

    async def _sender(self) -> Any:
        """The running bot, else (send-only allowed) the send-only client, else None."""
        if self._bot is not None or not self._send_only:
            return self._bot
        async with self._send_lock:  # two turns sending at once share one client
            if self._send_bot is None:
                await run_in_daemon_thread(_load_aiogram, name="telegram-import")
                try:
                    self._send_bot = self._make_bot()
                except ConfigError as exc:  # the message tool reports a ChannelError to the model
                    raise ChannelError(f"telegram ({self.account}): {exc}") from exc
            return self._send_bot

    def _make_bot(self) -> Any:
        try:
            from aiogram import Bot
            from aiogram.utils.token import TokenValidationError

            from rustyclaw.adapters.channels.aiogram_http11 import session_for

            session = session_for(self._api_base_url)
        except ImportError as exc:
            raise MissingExtraError("aiogram", "telegram", "The Telegram channel") from exc
        try:
            return Bot(self._token, session=session)
        except TokenValidationError as exc:
            raise ConfigError(
                "channels.telegram.botToken does not look like a bot token (123456:ABC...)"
            ) from exc

    async def _drop_webhook(self, bot: Any) -> None:
        # getUpdates is refused while a webhook is registered.
        from aiogram.exceptions import TelegramAPIError

        try:
            await bot.delete_webhook()
        except TelegramAPIError as exc:
            log.debug("deleteWebhook failed (ignored): %s", exc)

    @staticmethod
    async def _close_session(bot: Any) -> None:
        with contextlib.suppress(Exception):
            await bot.session.close()

    def _translate(self, exc: BaseException, action: str) -> ChannelError | ConfigError:
        from aiogram.exceptions import TelegramUnauthorizedError

        if isinstance(exc, (ChannelError, ConfigError)):
            return exc
        if isinstance(exc, TelegramUnauthorizedError):
            return ChannelError(f"telegram ({self.account}): the bot token was refused")
        return ChannelError(f"telegram ({self.account}) {action} failed: {type(exc).__name__}: {exc}")

    # -- receiving ----------------------------------------------------------------------------
    async def _poll(self) -> None:
        from aiogram.exceptions import TelegramUnauthorizedError

        offset: int | None = None
        backoff = self._backoff
        while True:
            bot = self._bot
            if bot is None:
                return
            try:
                updates = await bot.get_updates(
                    offset=offset, timeout=self._long_poll_timeout, allowed_updates=ALLOWED_UPDATES
                )
            except asyncio.CancelledError:
                raise
            except TelegramUnauthorizedError as exc:
                self._die(self._translate(exc, "polling"))
                return
            except Exception as exc:  # network, 5xx, 409, a response that does not parse: retry
                delay = backoff.next()
                # A server that lost its state (a restarted local Bot API server) numbers updates
                # afresh; the gateway still drops a redelivered message by its message id.
                self._seen.clear()
                self.state = "reconnecting"
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("telegram polling failed (%s); retrying in %.1f s", self.last_error, delay)
                await asyncio.sleep(delay)
                continue
            if self.state != "running":
                log.info("telegram polling recovered")
            self.state = "running"
            backoff.reset()
            for update in updates:
                # The next getUpdates confirms everything below `offset`, so it moves past an update
                # only once the update is journaled; a journal failure leaves it for the next poll.
                try:
                    await self._accept(update)
                except Exception as exc:
                    log.error("telegram update %s not journaled (%s); it will be fetched again",
                              update.update_id, exc)
                    await asyncio.sleep(backoff.next())
                    break
                offset = max(offset or 0, update.update_id + 1)
            if not updates:
                await asyncio.sleep(self._poll_interval)

    def _die(self, error: BaseException) -> None:
        log.error("telegram receiving stopped: %s", error)
        self.state = "failed"
        self.last_error = str(error)
        self._stop_error = error
        self._stopped.set()

    async def _accept(self, update: Any) -> None:
        """Journals and submits one update; raises when it could not be journaled."""
        if update.update_id in self._seen:
            log.info("telegram update %s delivered again; ignored", update.update_id)
            return
        message = to_inbound(
            update, channel=self.name, account=self.account, bot_id=self._bot_id, username=self.username
        )
        if message is None:
            log.debug("telegram update %s carries nothing to answer", update.update_id)
        else:
            await self._delivery.accept(message)
        self._seen.first_time(update.update_id)

    # -- webhook ------------------------------------------------------------------------------
    async def handle_webhook(self, headers: Mapping[str, str], body: bytes) -> tuple[int, bytes]:
        """One webhook POST: (status, JSON body). `headers` keys are lower case."""
        secret = self._webhook_secret
        given = headers.get(SECRET_HEADER, "")
        if self.mode != "webhook" or not secret or not compare_digest(given.encode(), secret.encode()):
            log.warning("telegram webhook call refused: missing or wrong secret token")
            return 403, _json({"ok": False, "error": "forbidden"})
        bot = self._bot
        if bot is None:
            return 503, _json({"ok": False, "error": "the channel is not running"})
        from aiogram.types import Update
        from pydantic import ValidationError

        try:
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            update = Update.model_validate(data, context={"bot": bot})
        except (ValueError, ValidationError) as exc:
            reason = str(exc).splitlines()[0][:200]
            log.warning("telegram webhook payload refused: %s", reason)
            return 400, _json({"ok": False, "error": f"not a Telegram update: {reason}"})
        try:
            await self._accept(update)  # journaled before the 200: Telegram redelivers on an error
        except Exception as exc:
            log.error("telegram webhook update %s not journaled: %s", update.update_id, exc)
            return 500, _json({"ok": False, "error": "could not record the update; send it again"})
        return 200, _json({"ok": True})

    def webhook_asgi_app(self, max_body: int = 1 << 20) -> ASGIApp:
        """An ASGI app answering webhook POSTs at whatever path it is mounted on."""
        return webhook_app(self.handle_webhook, max_body=max_body)

    # -- sending ------------------------------------------------------------------------------
    async def send(self, message: OutboundMessage) -> None:
        bot = await self._sender()
        if bot is None:
            raise ChannelError("telegram: the channel is not running")
        try:
            chat_id = int(message.peer_id)
            thread_id = int(message.thread_id) if message.thread_id else None
        except ValueError as exc:
            raise ChannelError(f"telegram: {message.peer_id!r} is not a chat id") from exc
        reply_to = None
        if message.chat_kind != "direct" and message.reply_to and ":" in message.reply_to:
            with contextlib.suppress(ValueError):
                reply_to = int(message.reply_to.rsplit(":", 1)[1])
        for piece in split_text(message.text, self.text_limit, units="utf16"):
            await self._send_piece(bot, chat_id, piece, thread_id, reply_to)
            reply_to = None  # only the first piece quotes the question
        for attachment in message.attachments:
            if attachment.kind in ("voice", "image") and attachment.data:
                await self._send_piece(bot, chat_id, "", thread_id, reply_to, upload=attachment)
                reply_to = None

    async def _send_piece(
        self, bot: Any, chat_id: int, text: str, thread_id: int | None, reply_to: int | None,
        *, upload: Attachment | None = None,
    ) -> None:
        from aiogram.types import BufferedInputFile, ReplyParameters

        reply = ReplyParameters(message_id=reply_to, allow_sending_without_reply=True) if reply_to else None
        action = "sendMessage"
        if upload is not None:
            action = "sendPhoto" if upload.kind == "image" else "sendVoice"

        async def once() -> None:
            try:
                if upload is not None and upload.kind == "image":
                    photo = BufferedInputFile(upload.data or b"", filename=upload.name or "image.png")
                    await bot.send_photo(chat_id, photo, message_thread_id=thread_id, reply_parameters=reply)
                elif upload is not None:
                    voice = BufferedInputFile(upload.data or b"", filename=upload.name or "voice.ogg")
                    await bot.send_voice(chat_id, voice, message_thread_id=thread_id, reply_parameters=reply)
                else:
                    await bot.send_message(chat_id, text, message_thread_id=thread_id, reply_parameters=reply)
            except Exception as exc:
                raise self._delivery_error(exc, action) from exc

        await send_with_retry(once, f"telegram {action}", self._send_retry)

    def _delivery_error(self, exc: BaseException, action: str) -> DeliveryError:
        """Transient: 429 (with Telegram's retry_after), 5xx, network; the rest never succeeds."""
        from aiogram.exceptions import (
            TelegramBadRequest,
            TelegramForbiddenError,
            TelegramNotFound,
            TelegramRetryAfter,
            TelegramUnauthorizedError,
        )

        text = f"telegram ({self.account}) {action} failed: {type(exc).__name__}: {exc}"
        if isinstance(exc, TelegramRetryAfter):
            return DeliveryError(text, transient=True, retry_after=float(exc.retry_after))
        permanent = (TelegramBadRequest, TelegramForbiddenError, TelegramNotFound, TelegramUnauthorizedError)
        return DeliveryError(text, transient=not isinstance(exc, permanent))

    async def fetch_media(self, attachment: Attachment, max_bytes: int = MEDIA_LIMIT) -> bytes:
        """The bytes of a received voice note or file (`getFile`, then the file URL)."""
        bot = self._bot
        file_id = file_id_of(attachment)
        if bot is None:
            raise ChannelError("telegram: the channel is not running")
        if file_id is None:
            raise ChannelError("telegram: the attachment carries no Telegram file id")
        try:
            info = await bot.get_file(file_id)
            if info.file_size is not None and info.file_size > max_bytes:
                raise ChannelError(f"telegram: the file is larger than {max_bytes} bytes")
            if not info.file_path:
                raise ChannelError("telegram: the Bot API gave no file path (is the file larger than 20 MB?)")
            url = bot.session.api.file_url(self._token, info.file_path)
            data = bytearray()
            async for chunk in bot.session.stream_content(url=url, timeout=60):
                data += chunk
                if len(data) > max_bytes:
                    raise ChannelError(f"telegram: the file is larger than {max_bytes} bytes")
        except ChannelError:
            raise
        except Exception as exc:
            raise self._translate(exc, "file download") from exc
        return bytes(data)

    async def typing(self, message: InboundMessage) -> None:
        bot = self._bot
        if bot is None:
            return
        try:
            thread_id = int(message.thread_id) if message.thread_id else None
            await bot.send_chat_action(int(message.peer_id), "typing", message_thread_id=thread_id)
        except Exception as exc:  # a typing indicator is decoration; never fail a turn for it
            log.debug("telegram typing failed (ignored): %s", exc)


def telegram_channel_from_config(section: TelegramConfig, *, account: str = "default") -> TelegramChannel:
    """Builds the channel from the validated `channels.telegram` section (no I/O)."""
    if not section.bot_token:
        raise ConfigError("channels.telegram.botToken is required when the channel is enabled")
    return TelegramChannel(
        section.bot_token,
        api_base_url=section.api_base_url,
        mode=section.mode,
        webhook_url=section.webhook_url,
        webhook_secret=section.webhook_secret,
        account=account,
        poll_interval=section.poll_interval,
    )
