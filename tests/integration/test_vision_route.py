"""Images through the real root and llmock: a message with an image takes the `vision` route and
its bytes reach that model as an OpenAI `image_url` content part (a data URL); without a vision
route the user is told how to configure one and no image is sent anywhere."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from rustyclaw.app import bootstrap
from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.domain.media_notice import CAPTION_NOTICE, IMAGE_NOTICE
from rustyclaw.domain.messages import Attachment, InboundMessage
from rustyclaw.settings import settings_of
from tests.fixtures.llm_servers import LLMockServer
from tests.fixtures.telegram_emulator import TelegramEmulator, telegram_emulator, telegram_token

__all__ = ["telegram_emulator", "telegram_token"]
pytestmark = pytest.mark.anyio

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24  # the bytes only travel; nobody decodes them here
IMAGE = Attachment(kind="image", mime="image/png", data=PNG, size=len(PNG))


def config(tmp_path: Path, base_url: str, routes: dict[str, Any]) -> RustyClawConfig:
    (tmp_path / "ws").mkdir(exist_ok=True)
    return RustyClawConfig.model_validate({
        "gateway": {"stateDir": str(tmp_path / "state")},
        "agents": {"workspace": str(tmp_path / "ws"), "list": [{"id": "pinned", "model": "mock/text-only"}]},
        "llm": {"providers": {"mock": {"baseUrl": base_url}}, "embedded": {"enabled": False},
                "retry": {"attempts": 1}, "routes": routes},
        "storage": {"backend": "sqlite"},
    })


def photo(text: str, peer: str = "me", **extra: Any) -> InboundMessage:
    return InboundMessage(channel="cli", peer_id=peer, sender_id=peer, text=text, attachments=(IMAGE,), **extra)


async def test_an_image_goes_to_the_vision_route_as_a_content_part(mock_llm: LLMockServer, tmp_path: Path) -> None:
    cfg = config(tmp_path, mock_llm.base_url, {"default": {"primary": "mock/big"},
                                               "vision": {"primary": "mock/llava"}})
    mock_llm.reply("a cat", times=4)
    async with bootstrap(settings_of(cfg), "core") as root:
        before = len(mock_llm.chat_bodies())
        captioned = await root.gateway.handle(photo("what is in this picture?"))
        bare = await root.gateway.handle(photo("", peer="other"))
        # An agent pinned to a text model still sends its images to the vision route.
        pinned = await root.gateway.handle(photo("and this?", agent_hint="pinned"))
        after = await root.gateway.handle(InboundMessage(channel="cli", peer_id="me", sender_id="me",
                                                         text="Tell me more about cats and their history."))
    bodies = mock_llm.chat_bodies()[before:]
    assert captioned is not None and captioned.text == "a cat"
    assert bare is not None and bare.text == "a cat" and pinned is not None and pinned.text == "a cat"
    assert after is not None and after.text == "a cat"
    assert [b["model"] for b in bodies] == ["llava", "llava", "llava", "big"]
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert bodies[0]["messages"][-1] == {"role": "user", "content": [
        {"type": "text", "text": "what is in this picture?"},
        {"type": "image_url", "image_url": {"url": url}}]}
    assert bodies[1]["messages"][-1]["content"] == [{"type": "image_url", "image_url": {"url": url}}]
    # The next turn sends the earlier message as text: the image went to the model once, with its turn.
    later = bodies[3]["messages"]
    assert all(isinstance(m["content"], str) for m in later)
    assert [m["content"] for m in later if m["role"] == "user"] == [  # both peers share the main session
        "what is in this picture?", "", "Tell me more about cats and their history."]


async def test_without_a_vision_route_the_user_is_told_how_to_configure_one(
    mock_llm: LLMockServer, tmp_path: Path
) -> None:
    cfg = config(tmp_path, mock_llm.base_url, {"default": {"primary": "mock/big"}})
    mock_llm.reply("about the caption", times=1)
    async with bootstrap(settings_of(cfg), "core") as root:
        before = len(mock_llm.chat_bodies())
        bare = await root.gateway.handle(photo(""))
        captioned = await root.gateway.handle(photo("what is this?"))
    bodies = mock_llm.chat_bodies()[before:]
    assert bare is not None and bare.text == IMAGE_NOTICE and "llm.routes.vision" in bare.text
    assert captioned is not None and captioned.text == f"{CAPTION_NOTICE}\n\nabout the caption"
    assert [b["model"] for b in bodies] == ["big"]  # the caption only, as text, on the default route
    assert bodies[0]["messages"][-1] == {"role": "user", "content": "what is this?"}


async def test_a_telegram_photo_reaches_the_vision_model(
    mock_llm: LLMockServer, telegram_emulator: TelegramEmulator, telegram_token: str, tmp_path: Path,
) -> None:
    """End to end through serve: a photo update on the Bot API emulator is downloaded by the bot
    (getFile, then the file) only because a vision route exists, and its bytes reach that model."""
    emulator, token = telegram_emulator, telegram_token
    photo_bytes = b"\xff\xd8\xff\xe0" + bytes(range(64))  # a JPEG's first bytes; nothing decodes it
    cfg = RustyClawConfig.model_validate({
        "gateway": {"stateDir": str(tmp_path / "state"), "port": 0},
        "agents": {"workspace": str(tmp_path / "ws")},
        "llm": {"providers": {"mock": {"baseUrl": mock_llm.base_url}}, "embedded": {"enabled": False},
                "retry": {"attempts": 1}, "routes": {"default": {"primary": "mock/big"},
                                                     "vision": {"primary": "mock/llava"}}},
        "channels": {"telegram": {"enabled": True, "botToken": token, "apiBaseUrl": emulator.base_url,
                                  "pollInterval": 0.05, "dmPolicy": "open", "allowFrom": ["*"]}},
        "storage": {"backend": "sqlite"},
    })
    mock_llm.reply("a small test pattern", times=1)
    async with bootstrap(settings_of(cfg), "serve") as root:
        assert root.serving is not None and root.serving.supervisor is not None
        await root.serving.supervisor.wait_started()
        before = len(mock_llm.chat_bodies())
        await emulator.add_file(token, "AgACphoto1", photo_bytes)
        sizes = [{"file_id": "AgACphoto1", "file_unique_id": "uphoto1", "width": 64, "height": 64,
                  "file_size": len(photo_bytes)}]
        update = emulator.make_update("", photo=sizes, caption="what is this?")
        del update["message"]["text"]
        await emulator.inject_update(token, update)
        assert await emulator.wait_bot_texts(token, 1001, 1, within=30) == ["a small test pattern"]
    [body] = mock_llm.chat_bodies()[before:]
    assert body["model"] == "llava"
    assert body["messages"][-1]["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url",
         "image_url": {"url": "data:image/jpeg;base64," + base64.b64encode(photo_bytes).decode()}}]


async def test_an_openai_client_image_part_goes_to_the_vision_route(mock_llm: LLMockServer, tmp_path: Path) -> None:
    """The OpenAI endpoint: a client's `image_url` part on its last user message reaches the vision
    model, both for a client that sends the whole conversation (stateless) and one with `user`."""
    import httpx

    from rustyclaw.adapters.http.app import create_app
    from rustyclaw.adapters.http.settings import HttpSettings

    cfg = config(tmp_path, mock_llm.base_url, {"default": {"primary": "mock/big"}, "vision": {"primary": "mock/llava"}})
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    last = {"role": "user", "content": [{"type": "text", "text": "and this one?"},
                                        {"type": "image_url", "image_url": {"url": url}}]}
    history = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"}, last]
    mock_llm.reply("a png", times=2)
    async with bootstrap(settings_of(cfg), "core") as root:
        app = create_app(root.gateway, HttpSettings(openai_enabled=True, agent_ids=root.settings.agents.agent_ids))
        before = len(mock_llm.chat_bodies())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
            stateless = (await http.post("/v1/chat/completions", json={"messages": history})).json()
            session = (await http.post("/v1/chat/completions", json={"user": "desk", "messages": [last]})).json()
    assert stateless["choices"][0]["message"]["content"] == session["choices"][0]["message"]["content"] == "a png"
    bodies = mock_llm.chat_bodies()[before:]
    assert [b["model"] for b in bodies] == ["llava", "llava"]
    for body in bodies:
        assert body["messages"][-1] == {"role": "user", "content": [
            {"type": "text", "text": "and this one?"}, {"type": "image_url", "image_url": {"url": url}}]}
    assert [m["content"] for m in bodies[0]["messages"][1:-1]] == ["hello", "hi"]  # the client's history, as text
