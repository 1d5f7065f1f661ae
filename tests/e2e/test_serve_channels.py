"""`rustyclaw serve` with chat channels from config: the composition root wires Telegram (polling,
pairing), the WhatsApp webhook mount and the supervisor; the model is the real llama.cpp server."""

from __future__ import annotations

import re
from pathlib import Path

import anyio
import httpx
import pytest

from rustyclaw.adapters.channels.whatsapp_signature import sign
from rustyclaw.domain.pairing import CODE_ALPHABET
from tests.fixtures.telegram_emulator import TelegramEmulator, telegram_emulator, telegram_token

from .gateway_process import GatewayProcess, write_config

__all__ = ["telegram_emulator", "telegram_token"]
pytestmark = [pytest.mark.llama, pytest.mark.slow]
CODE = re.compile(rf"\b[{CODE_ALPHABET}]{{8}}\b")
USER = 4242


def test_telegram_pairing_and_reply_and_the_whatsapp_webhook_through_serve(
    tmp_path: Path, llama_server: str, llama_model: str, telegram_emulator: TelegramEmulator,
    telegram_token: str,
) -> None:
    config = write_config(
        tmp_path / "rustyclaw.yaml", tmp_path / "state", llama_server, llama_model,
        channels={
            "telegram": {"enabled": True, "botToken": telegram_token, "apiBaseUrl": telegram_emulator.base_url},
            "whatsapp": {"enabled": True, "accessToken": "wa-token", "appSecret": "wa-secret",
                         "verifyToken": "wa-verify", "phoneNumberId": "15550001",
                         "apiBaseUrl": "http://127.0.0.1:9"},
        },
    )
    gateway = GatewayProcess(config, tmp_path).start(timeout=30)
    try:
        async def telegram_flow() -> None:
            # An unknown sender is paired before being served (dmPolicy: pairing is the default).
            await telegram_emulator.user_message(telegram_token, "hi", user_id=USER)
            [pairing] = await telegram_emulator.wait_bot_texts(telegram_token, USER, 1, within=60)
            code = CODE.search(pairing)
            assert code is not None, pairing
            approved = gateway.cli("pairing", "approve", "telegram", code.group(0))
            assert approved.returncode == 0, approved.stdout + approved.stderr
            await telegram_emulator.user_message(telegram_token, "Say hello.", user_id=USER)
            [answer] = await telegram_emulator.wait_bot_texts(telegram_token, USER, 1, within=120)
            assert answer.strip() and not CODE.search(answer)

        anyio.run(telegram_flow)
        # /readyz names each channel with its state (the supervisor's view), and the model's.
        ready = httpx.get(f"{gateway.url}/readyz").json()
        assert ready["channels"]["telegram"] == {"state": "connected"}
        assert ready["channels"]["whatsapp"] == {"state": "connected"}
        assert ready["channels"]["discord"] == {"state": "disabled"}
        assert ready["model"]["state"] == "reachable"

        hook = f"{gateway.url}/channels/whatsapp/webhook"
        verify = httpx.get(hook, params={"hub.mode": "subscribe", "hub.verify_token": "wa-verify",
                                         "hub.challenge": "1234"})
        assert (verify.status_code, verify.text) == (200, "1234")
        body = b'{"object":"whatsapp_business_account","entry":[]}'
        assert httpx.post(hook, content=body).status_code == 403
        signed = httpx.post(hook, content=body, headers={"X-Hub-Signature-256": sign(body, "wa-secret")})
        assert signed.status_code == 200
    finally:
        assert gateway.stop() == 0, gateway.log()
