"""The web chat in real headless Chromium against `rustyclaw serve` (model: llmock).

Proves: a message is sent and its reply streams in (several deltas over the WebSocket) as
Markdown with a highlighted code block; a reload restores the history from the server; the
conversation list creates, switches, renames and deletes; cut and failed replies carry a marker;
unknown /commands are answered by the gateway (the model never sees them); slash completion; the
phone layout; the PWA manifest and service worker, and the offline shell; a no-model error that
says what to do.
"""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import Browser, Page, WebSocket, expect

from tests.e2e.gateway_process import GatewayProcess
from tests.fixtures.llm_servers import LLMockServer

from .conftest import start_gateway

CODE_REPLY = "Here is the code:\n\n```python\ndef greet(name):\n    return f'hi {name}'\n```\n\nDone."


def send(page: Page, text: str) -> None:
    page.fill("#input", text)
    page.press("#input", "Enter")


def wait_idle(page: Page) -> None:
    expect(page.locator("#stop")).to_be_hidden()
    expect(page.locator("#send")).to_be_enabled()


def open_chat(page: Page, gateway: GatewayProcess) -> None:
    page.goto(gateway.url + "/")
    expect(page.locator("#status")).to_have_text("connected")


def test_send_streams_markdown_with_highlighted_code_and_reload_keeps_history(
    page: Page, gateway: GatewayProcess, mock_llm: LLMockServer, artifacts: Path
) -> None:
    deltas: list[str] = []

    def watch(socket: WebSocket) -> None:
        def frame(payload: str | bytes) -> None:
            data = json.loads(payload)
            if data.get("type") == "delta":
                deltas.append(data["text"])
        socket.on("framereceived", frame)

    page.on("websocket", watch)
    mock_llm.reply(CODE_REPLY)
    open_chat(page, gateway)
    send(page, "Show me a greet function")
    code = page.locator(".msg.assistant pre code")
    expect(code).to_contain_text("def greet(name):")
    wait_idle(page)
    assert len(deltas) > 1, "the reply should arrive as several streamed deltas"
    assert "".join(deltas) == CODE_REPLY
    expect(code).to_have_class("language-python hljs")  # highlight.js ran
    assert code.locator("span.hljs-keyword").count() >= 1
    expect(page.locator(".msg.assistant .body p").first).to_have_text("Here is the code:")
    page.screenshot(path=str(artifacts / "chat-code.png"), full_page=True)

    page.reload()
    expect(page.locator(".msg.user")).to_have_text(["Show me a greet function"])
    expect(page.locator(".msg.assistant pre code")).to_contain_text("return f'hi {name}'")
    expect(page.locator("#conversations li")).to_have_count(1)
    expect(page.locator("#conversations li .open")).to_have_text(["Show me a greet function"])


def test_markdown_is_sanitised(page: Page, gateway: GatewayProcess, mock_llm: LLMockServer) -> None:
    mock_llm.reply('**bold** <img src=x onerror="window.pwned=1"> <script>window.pwned=2</script>')
    open_chat(page, gateway)
    send(page, "tricky")
    expect(page.locator(".msg.assistant strong")).to_have_text("bold")
    wait_idle(page)
    assert page.evaluate("window.pwned") is None
    assert page.locator(".msg.assistant script").count() == 0
    assert page.locator(".msg.assistant img[onerror]").count() == 0


def test_conversations_new_switch_rename_delete(
    page: Page, gateway: GatewayProcess, mock_llm: LLMockServer, artifacts: Path
) -> None:
    mock_llm.reply("Answer about apples.").reply("Answer about pears.")
    open_chat(page, gateway)
    send(page, "apples")
    expect(page.locator(".msg.assistant")).to_have_text(["Answer about apples."])
    wait_idle(page)
    page.click("#new")
    expect(page.locator(".msg")).to_have_count(0)
    send(page, "pears")
    expect(page.locator(".msg.assistant")).to_have_text(["Answer about pears."])
    wait_idle(page)
    items = page.locator("#conversations li .open")
    expect(items).to_have_text(["pears", "apples"])  # newest first

    items.filter(has_text="apples").click()
    expect(page.locator(".msg.user")).to_have_text(["apples"])
    expect(page.locator(".msg.assistant")).to_have_text(["Answer about apples."])

    page.once("dialog", lambda dialog: dialog.accept("Fruit talk"))
    page.locator("#conversations li", has_text="apples").locator(".rename").click()
    expect(items).to_have_text(["pears", "Fruit talk"])
    page.screenshot(path=str(artifacts / "chat-conversations.png"))

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#conversations li", has_text="pears").locator(".delete").click()
    expect(items).to_have_text(["Fruit talk"])
    page.reload()
    expect(items).to_have_text(["Fruit talk"])


def test_cut_and_failed_replies_are_marked(page: Page, gateway: GatewayProcess, mock_llm: LLMockServer) -> None:
    mock_llm.scenario({"type": "reply", "text": "This answer stops in the mid", "finish_reason": "length"})
    open_chat(page, gateway)
    send(page, "long question")
    expect(page.locator(".msg.assistant .marker")).to_have_text(["✂ cut off: the reply reached its length limit"])
    wait_idle(page)
    mock_llm.fail(500, times=None)
    send(page, "this one fails")
    expect(page.locator(".msg.assistant .marker").nth(1)).to_have_text("⚠ the reply failed")
    wait_idle(page)
    page.reload()  # the stored cut reply keeps its marker
    expect(page.locator(".msg.assistant .marker").first).to_contain_text("cut off")


def test_unknown_commands_are_answered_by_the_gateway_and_commands_complete(
    page: Page, gateway: GatewayProcess, mock_llm: LLMockServer
) -> None:
    open_chat(page, gateway)
    page.fill("#input", "")
    page.type("#input", "/st")
    options = page.locator("#completion li")
    expect(options).to_have_count(2)
    expect(options.first).to_contain_text("/status")
    page.press("#input", "ArrowDown")
    page.press("#input", "Tab")
    expect(page.locator("#input")).to_have_value("/stop")
    page.fill("#input", "/frobnicate now")
    page.press("#input", "Escape")
    page.press("#input", "Enter")
    expect(page.locator(".msg.assistant")).to_contain_text(["Unknown command /frobnicate."])
    wait_idle(page)
    assert [r for r in mock_llm.requests() if r.get("body")] == [], "the model must not see the command"


def test_phone_layout_and_pwa(browser: Browser, gateway: GatewayProcess, mock_llm: LLMockServer,
                              artifacts: Path) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                  is_mobile=True, has_touch=True, color_scheme="dark")
    try:
        page = context.new_page()
        mock_llm.reply("Hello from the phone.")
        open_chat(page, gateway)
        expect(page.locator("#menu")).to_be_visible()
        assert page.locator("#sidebar").bounding_box()["x"] < 0  # type: ignore[index]  # off screen
        send(page, "hi from a phone")
        expect(page.locator(".msg.assistant")).to_have_text(["Hello from the phone."])
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
        page.screenshot(path=str(artifacts / "phone-chat.png"))
        page.click("#menu")
        expect(page.locator("#sidebar")).to_have_class("open")
        page.screenshot(path=str(artifacts / "phone-menu.png"))

        manifest_url = page.eval_on_selector("link[rel=manifest]", "link => link.href")
        manifest = page.request.get(manifest_url)
        assert manifest.headers["content-type"] == "application/manifest+json"
        body = manifest.json()
        assert body["display"] == "standalone" and body["start_url"] == "/"
        sizes = {icon["sizes"] for icon in body["icons"]}
        assert {"192x192", "512x512"} <= sizes
        for icon in body["icons"]:
            assert page.request.get(gateway.url + icon["src"]).ok
        scope = page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)")
        assert scope == gateway.url + "/"
        # The service worker controls the page after a reload; then the shell opens offline.
        page.reload()
        expect(page.locator("#status")).to_have_text("connected")
        assert page.evaluate("navigator.serviceWorker.controller !== null")
        context.set_offline(True)
        page.reload()
        expect(page.locator("h1")).to_have_text("RustyClaw")
        expect(page.locator("#status")).not_to_have_text("connected")
        expect(page.locator("#banner")).to_contain_text("You are offline")
        expect(page.locator(".msg.assistant")).to_have_text(["Hello from the phone."])  # as last seen
        page.screenshot(path=str(artifacts / "phone-offline.png"))
    finally:
        context.close()


def test_no_model_says_what_to_do(page: Page, tmp_path: Path, closed_port_url: str, artifacts: Path) -> None:
    process = start_gateway(tmp_path, closed_port_url)
    try:
        open_chat(page, process)
        banner = page.locator("#banner")
        expect(banner).to_contain_text("No model answers at " + closed_port_url)
        expect(banner).to_contain_text("rustyclaw doctor")
        send(page, "hello?")
        error = page.locator(".msg.assistant .error")
        expect(error).to_contain_text("not reachable")
        expect(error).to_contain_text("rustyclaw doctor")
        expect(page.locator(".msg.assistant .marker")).to_have_text(["⚠ the reply failed"])
        page.screenshot(path=str(artifacts / "chat-no-model.png"))
    finally:
        process.stop()


def test_stop_cancels_a_reply_in_flight(page: Page, gateway: GatewayProcess, mock_llm: LLMockServer) -> None:
    mock_llm.stream_fault("stall", after_chunks=2, stall_seconds=60)
    open_chat(page, gateway)
    send(page, "write forever")
    expect(page.locator("#stop")).to_be_visible()
    page.click("#stop")
    expect(page.locator(".msg.assistant .marker")).to_have_text(["■ stopped"])
    wait_idle(page)
    # llmock counts a fault as used only when its stream ends; this one was cut off by the stop.
    mock_llm.reset().reply("Back again.")
    send(page, "still there?")
    expect(page.locator(".msg.assistant").nth(1)).to_contain_text("Back again.")


def test_a_text_attachment_goes_into_the_message(page: Page, gateway: GatewayProcess, mock_llm: LLMockServer,
                                                 tmp_path: Path) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("- buy milk\n- call Ada\n")
    picture = tmp_path / "photo.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n")
    mock_llm.reply("Two items.")
    open_chat(page, gateway)
    page.set_input_files("#file", str(picture))
    expect(page.locator(".error")).to_contain_text("only text files and audio can be attached")
    page.set_input_files("#file", str(notes))
    expect(page.locator("#input")).to_have_value("Attached: notes.md\n```\n- buy milk\n- call Ada\n\n```\n")
    page.fill("#input", page.input_value("#input") + "How many items?")
    page.press("#input", "Enter")
    expect(page.locator(".msg.assistant")).to_have_text(["Two items."])
    wait_idle(page)
    sent = [r["body"] for r in mock_llm.requests() if r.get("body")]
    assert "- call Ada" in sent[-1]["messages"][-1]["content"]


def test_a_long_streaming_reply_is_followed_to_the_bottom(page: Page, gateway: GatewayProcess,
                                                         mock_llm: LLMockServer) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    long_reply = "\n\n".join(f"Paragraph {n} of a long answer." for n in range(1, 61))
    mock_llm.reply(long_reply)
    open_chat(page, gateway)
    send(page, "tell me everything")
    expect(page.locator(".msg.assistant .body p").last).to_have_text("Paragraph 60 of a long answer.")
    wait_idle(page)
    height, top, visible = page.evaluate(
        "(() => { const l = document.getElementById('log'); return [l.scrollHeight, l.scrollTop, l.clientHeight]; })()")
    assert height > 3 * visible  # the reply is much taller than the screen
    gap = height - top - visible
    assert gap < 48, f"the view was left {gap}px above the end of the reply"
