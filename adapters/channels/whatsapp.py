"""WhatsApp through Meta's Cloud API: a signed webhook in, the Graph API out, with plain httpx.

Why httpx and not `pywa` (4.5, a maintained client): the channel needs one webhook (verify a
GET, check an HMAC, read a small JSON shape) and three Graph calls (send text, mark read with a
typing indicator, fetch media). httpx is already a core dependency, so the channel costs no
extra package and no extra memory when it is on; pywa adds 4.5 MB on disk and 11 MB of RSS on
import over httpx (measured here), and its webhook side expects FastAPI or Flask, while the
gateway serves its own ASGI app. The Cloud API's JSON is stable and documented; owning ~300
lines is cheaper than that.

Webhook (mount `webhook_asgi_app()` at `/channels/whatsapp/webhook`, or call `handle_webhook`):
- GET with `hub.mode=subscribe` and the configured `hub.verify_token` -> 200 with
  `hub.challenge` as plain text; anything else -> 403. This works before the channel starts.
- POST: `X-Hub-Signature-256` must be the HMAC-SHA256 of the raw body with the app secret
  (403 otherwise, nothing processed); a body that is not a WhatsApp payload -> 400; a channel
  that is not running -> 503 (Meta redelivers later, nothing is lost); otherwise 200 as soon as
  every message is journaled (the inbound journal, ports/inbox.py: Meta never redelivers a
  webhook it got 200 for, so a message must be on disk first; a journal failure answers 500 and
  Meta sends it again), and each message runs in the background. A `wamid` seen before is
  dropped here and, after a restart, by the journal.
Replies: `POST {api}/{version}/{phone_number_id}/messages`, bearer token, split at 4096.
Voice notes out: after the text, each voice attachment is uploaded (`POST .../{phone_number_id}/media`,
multipart, `type=audio/ogg`) and sent as `{"type": "audio", "audio": {"id": <media id>}}`;
OGG/Opus audio shows as a voice note in WhatsApp. Image attachments (a browser screenshot) take the
same upload and go out as `{"type": "image", "image": {"id": <media id>}}`. Voice notes in: `fetch_media`.
Typing: the Cloud API's read receipt with `typing_indicator` (shows "typing..." up to 25 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from rustyclaw.adapters.channels.delivery import InboundDelivery, RecentIds
from rustyclaw.adapters.channels.send_retry import SendRetry, send_with_retry
from rustyclaw.adapters.channels.text_split import split_text
from rustyclaw.adapters.channels.webhook_asgi import ASGIApp, Receive, Scope, Send, webhook_app
from rustyclaw.adapters.channels.whatsapp_mapping import PayloadError, media_id_of, to_inbound
from rustyclaw.adapters.channels.whatsapp_signature import SIGNATURE_HEADER, signature_ok
from rustyclaw.config.channels import WhatsAppConfig
from rustyclaw.domain.errors import ChannelError, ConfigError, DeliveryError
from rustyclaw.domain.messages import Attachment, InboundMessage, OutboundMessage
from rustyclaw.ports.channel import MEDIA_LIMIT, InboundHandler

log = logging.getLogger("rustyclaw.channels.whatsapp")

_SEEN_IDS = 4096
# Graph error codes for throughput and rate limits (Meta's docs): worth a retry.
_TRANSIENT_CODES = frozenset({1, 2, 4, 17, 341, 80007, 130429, 131000, 131048, 131056})
Response = tuple[int, str, bytes]
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"


def _json(obj: Any) -> bytes:
    return json.dumps(obj).encode()


class WhatsAppChannel:
    """A Channel for one WhatsApp Business phone number (one `account`)."""

    text_limit = 4096

    def __init__(
        self,
        access_token: str,
        app_secret: str,
        verify_token: str,
        phone_number_id: str,
        *,
        api_base_url: str = "https://graph.facebook.com",
        api_version: str = "v21.0",
        account: str = "default",
        name: str = "whatsapp",
        typing_indicator: bool = True,
        max_concurrent: int = 32,
        timeout: float = 30.0,
        drain_seconds: float | None = None,
        send_retry: SendRetry | None = None,
    ) -> None:
        for key, value in (("accessToken", access_token), ("appSecret", app_secret),
                           ("verifyToken", verify_token), ("phoneNumberId", phone_number_id)):
            if not value or not str(value).strip():
                raise ConfigError(f"channels.whatsapp.{key} is required when the channel is enabled")
        self.name = name
        self.account = account
        self._access_token = access_token
        self._app_secret = app_secret
        self._verify_token = verify_token
        self.phone_number_id = str(phone_number_id)
        self._api = f"{api_base_url.rstrip('/')}/{api_version.strip('/')}"
        self._typing_indicator = typing_indicator
        self._timeout = timeout
        self._drain_seconds = drain_seconds  # None: the dispatcher's drain_seconds
        self._send_retry = send_retry or SendRetry()
        self._client: Any = None
        self._delivery = InboundDelivery(name, max_concurrent)
        self._seen = RecentIds(_SEEN_IDS)
        self._stopped = asyncio.Event()
        self.state = "stopped"
        self.last_error: str | None = None

    def __repr__(self) -> str:
        return f"WhatsAppChannel(account={self.account!r}, phone_number_id={self.phone_number_id!r})"

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self, handler: InboundHandler) -> None:
        if self._client is not None:
            return
        import httpx

        self._client = httpx.AsyncClient(
            base_url=self._api, headers={"Authorization": f"Bearer {self._access_token}"},
            timeout=httpx.Timeout(self._timeout, connect=min(10.0, self._timeout)),
        )
        self._delivery.handler = handler
        self._stopped = asyncio.Event()
        self.state = "running"
        self._delivery.resume_unfinished()
        log.info("whatsapp channel for number %s started", self.phone_number_id)

    async def aclose(self) -> None:
        client = self._client
        if client is None or self.state == "stopping":
            return
        self.state = "stopping"
        # Messages were acknowledged with 200 already: their turns get the grace (and may still send),
        # what does not finish stays journaled for the next start.
        await self._delivery.stop(grace=self._drain_seconds)
        self._client = None
        self.state = "stopped"
        self._delivery.handler = None
        with contextlib.suppress(Exception):
            await client.aclose()
        self._stopped.set()

    async def wait_stopped(self) -> BaseException | None:
        """Returns after `aclose()`; the webhook has no connection of its own that could die."""
        await self._stopped.wait()
        return None

    # -- webhook ------------------------------------------------------------------------------
    def verify(self, query: Mapping[str, str]) -> Response:
        """The subscription check Meta makes when the webhook URL is configured."""
        mode = query.get("hub.mode", "")
        token = query.get("hub.verify_token", "")
        challenge = query.get("hub.challenge", "")
        if mode == "subscribe" and hmac.compare_digest(token.encode(), self._verify_token.encode()):
            return 200, TEXT, challenge.encode()
        log.warning("whatsapp webhook verification refused (mode %r, token mismatch or missing)", mode)
        return 403, TEXT, b"forbidden"

    async def handle_event(self, headers: Mapping[str, str], body: bytes) -> tuple[int, bytes]:
        """One event POST: (status, JSON body). `headers` keys are lower case."""
        if not signature_ok(body, headers.get(SIGNATURE_HEADER), self._app_secret):
            log.warning("whatsapp webhook refused: %s signature",
                        "wrong" if headers.get(SIGNATURE_HEADER) else "missing")
            return 403, _json({"ok": False, "error": "bad or missing X-Hub-Signature-256"})
        try:
            payload = json.loads(body)
            messages = to_inbound(payload, channel=self.name, account=self.account,
                                  phone_number_id=self.phone_number_id, received_at=time.time())
        except (ValueError, PayloadError) as exc:  # JSONDecodeError is a ValueError
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            log.warning("whatsapp webhook payload refused: %s", reason)
            return 400, _json({"ok": False, "error": f"not a WhatsApp webhook payload: {reason}"})
        if self._client is None or self.state != "running":
            return 503, _json({"ok": False, "error": "the channel is not running"})
        try:
            for message in messages:
                await self._accept(message)
        except Exception as exc:
            log.error("whatsapp webhook message not journaled (%s); answering 500 so Meta sends it again", exc)
            return 500, _json({"ok": False, "error": "could not record the message; send it again"})
        return 200, _json({"ok": True})

    async def handle_webhook(
        self, method: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes
    ) -> Response:
        """The whole webhook for callers without ASGI: (status, content type, body)."""
        if method in ("GET", "HEAD"):
            return self.verify(query)
        if method != "POST":
            return 405, JSON, _json({"ok": False, "error": "GET or POST only"})
        status, payload = await self.handle_event(headers, body)
        return status, JSON, payload

    def webhook_asgi_app(self, max_body: int = 1 << 20) -> ASGIApp:
        """An ASGI app for the webhook (GET verification, signed POSTs) at whatever path it is mounted on."""
        post_app = webhook_app(self.handle_event, max_body=max_body)

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
                raw = scope.get("query_string", b"").decode("latin-1")
                status, ctype, body = self.verify(dict(parse_qsl(raw, keep_blank_values=True)))
                await send({"type": "http.response.start", "status": status, "headers": [
                    (b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body if scope["method"] == "GET" else b""})
                return
            await post_app(scope, receive, send)

        return app

    async def _accept(self, message: InboundMessage) -> None:
        wamid = message.message_id or ""
        if wamid in self._seen:
            log.info("whatsapp message %s delivered again; ignored", wamid)
            return
        await self._delivery.accept(message)  # raises when it cannot be journaled: no 200 then
        self._seen.first_time(wamid)

    # -- Graph API ----------------------------------------------------------------------------
    async def _post(self, body: dict[str, Any], action: str) -> Any:
        client = self._client
        if client is None:
            raise ChannelError("whatsapp: the channel is not running")

        async def once() -> Any:
            try:
                response = await client.post(f"/{self.phone_number_id}/messages", json=body)
            except Exception as exc:  # httpx transport errors: refused, timed out, reset
                raise DeliveryError(f"whatsapp {action} failed: {type(exc).__name__}: {exc}",
                                    transient=True) from exc
            return self._checked(response, action)

        return await send_with_retry(once, f"whatsapp {action}", self._send_retry)

    @staticmethod
    def _checked(response: Any, action: str) -> Any:
        if response.status_code < 300:
            try:
                return response.json()
            except ValueError:
                return None
        detail = response.text[:300]
        code = None
        with contextlib.suppress(ValueError, AttributeError, TypeError, KeyError):
            error = response.json()["error"]
            code = error.get("code")
            detail = f"{error.get('message')} (code {code})"
        status = response.status_code
        # 429, 5xx and Meta's throughput and rate-limit codes pass; other 4xx (bad number, no
        # consent window, bad token) never will.
        transient = status == 429 or status >= 500 or code in _TRANSIENT_CODES
        retry_after = None
        with contextlib.suppress(TypeError, ValueError):
            retry_after = float(response.headers.get("retry-after"))
        raise DeliveryError(f"whatsapp {action} failed: HTTP {status}: {detail}", transient=transient,
                            retry_after=retry_after)

    async def send(self, message: OutboundMessage) -> None:
        if self._client is None:
            raise ChannelError("whatsapp: the channel is not running")
        for piece in split_text(message.text, self.text_limit):
            await self._post({
                "messaging_product": "whatsapp", "recipient_type": "individual", "to": message.peer_id,
                "type": "text", "text": {"body": piece, "preview_url": False},
            }, "send")
        for attachment in message.attachments:
            if attachment.kind in ("voice", "image") and attachment.data:
                media_id = await self._upload(attachment)
                kind = "audio" if attachment.kind == "voice" else "image"
                await self._post({
                    "messaging_product": "whatsapp", "recipient_type": "individual", "to": message.peer_id,
                    "type": kind, kind: {"id": media_id},
                }, f"send {kind}")

    async def _upload(self, attachment: Attachment) -> str:
        """Uploads a voice note's or image's bytes; the Cloud API's media id for sending it."""
        client = self._client
        if client is None:
            raise ChannelError("whatsapp: the channel is not running")
        voice = attachment.kind == "voice"
        mime = attachment.mime.split(";", 1)[0].strip() or ("audio/ogg" if voice else "image/png")
        try:
            response = await client.post(
                f"/{self.phone_number_id}/media",
                data={"messaging_product": "whatsapp", "type": mime},
                files={"file": (attachment.name or ("voice.ogg" if voice else "image.png"),
                                attachment.data or b"", mime)},
            )
        except Exception as exc:
            raise ChannelError(f"whatsapp media upload failed: {type(exc).__name__}: {exc}") from exc
        info = self._checked(response, "media upload")
        media_id = info.get("id") if isinstance(info, dict) else None
        if not isinstance(media_id, str) or not media_id:
            raise ChannelError("whatsapp media upload failed: the answer carries no media id")
        return media_id

    async def typing(self, message: InboundMessage) -> None:
        if not self._typing_indicator or not message.message_id or self._client is None:
            return
        try:
            await self._post({
                "messaging_product": "whatsapp", "status": "read", "message_id": message.message_id,
                "typing_indicator": {"type": "text"},
            }, "typing")
        except ChannelError as exc:  # a typing indicator is decoration; never fail a turn for it
            log.debug("whatsapp typing failed (ignored): %s", exc)

    async def fetch_media(self, attachment: Attachment, max_bytes: int = MEDIA_LIMIT) -> bytes:
        """The bytes of a received voice note or file: `GET /{media id}`, then its short-lived url."""
        client = self._client
        media_id = media_id_of(attachment)
        if client is None:
            raise ChannelError("whatsapp: the channel is not running")
        if media_id is None:
            raise ChannelError("whatsapp: the attachment carries no WhatsApp media id")
        too_large = ChannelError(f"whatsapp media is larger than {max_bytes} bytes")
        try:
            info = self._checked(await client.get(f"/{media_id}"), "media lookup")
            if int(info.get("file_size") or 0) > max_bytes:
                raise too_large
            data = bytearray()
            async with client.stream("GET", info["url"]) as response:
                if response.status_code >= 300:
                    await response.aread()
                    self._checked(response, "media download")
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > max_bytes:
                        raise too_large
        except ChannelError:
            raise
        except Exception as exc:
            raise ChannelError(f"whatsapp media download failed: {type(exc).__name__}: {exc}") from exc
        return bytes(data)


def whatsapp_channel_from_config(section: WhatsAppConfig, *, account: str = "default") -> WhatsAppChannel:
    """Builds the channel from the validated `channels.whatsapp` section (no I/O)."""
    return WhatsAppChannel(
        section.access_token or "", section.app_secret or "", section.verify_token or "",
        section.phone_number_id or "",
        api_base_url=section.api_base_url,
        api_version=section.api_version,
        account=account,
    )
