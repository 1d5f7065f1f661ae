"""`browser`: OpenClaw's browser tool on a real Chromium (Playwright), one profile per agent or session.

Actions (OpenClaw's names): status, start, stop, tabs, open (targetUrl, a new tab), focus / close
(targetId), navigate (targetUrl), snapshot (the page as text with refs), screenshot (an image
attachment on the reply; fullPage, ref), and act with `request: {kind, ref, text, ...}` where kind
is click, type, press, hover, select, fill, scroll or wait. The act kinds are also accepted as
actions themselves (`{"action": "click", "ref": "e3"}`). Every action is bounded by
`browser.actionTimeoutSeconds`; what the page's requests were refused by the SSRF guard is said.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

import anyio

from rustyclaw.adapters.tools.browser_pool import BrowserPool, Profile, quietly
from rustyclaw.adapters.tools.browser_snapshot import SNAPSHOT_JS, ref_selector
from rustyclaw.domain.errors import ToolError
from rustyclaw.domain.messages import Attachment
from rustyclaw.domain.reply_media import ReplyMedia
from rustyclaw.ports.llm import ToolSpec
from rustyclaw.ports.tools import ToolContext

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page

ACTIONS = ("status", "start", "stop", "tabs", "open", "focus", "close", "navigate", "snapshot", "screenshot", "act")
ACT_KINDS = ("click", "type", "press", "hover", "select", "fill", "scroll", "wait")
# Channels whose replies carry image attachments to the user; chat platforms send voice notes only so far.
IMAGE_CHANNELS = frozenset({"web"})
_REF = re.compile(r"^(?:e)?(\d{1,6})$")

SPEC = ToolSpec(
    name="browser",
    # Kept short: every prompt carries it. The refs come from 'snapshot'; act kinds are in the enum.
    description="Drive a web browser: open, snapshot (refs), act, screenshot.",
    parameters={
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": [*ACTIONS, *ACT_KINDS]},
            "targetUrl": {"type": "string"},
            "targetId": {"type": "string", "description": "tab"},
            "ref": {"type": "string", "description": "from snapshot, e.g. e3"},
            "text": {"type": "string"},
            "submit": {"type": "boolean"},
            "key": {"type": "string"},
            "values": {"type": "array", "items": {"type": "string"}},
            "fields": {"type": "array", "items": {"type": "object"}, "description": "[{ref, value}]"},
            "timeMs": {"type": "integer"},
            "textGone": {"type": "string"},
            "direction": {"type": "string", "enum": ["up", "down"]},
            "fullPage": {"type": "boolean"},
            "maxChars": {"type": "integer"},
            "request": {"type": "object", "description": "act: {kind, ref, text, ...}"},
        },
        "required": ["action"],
    },
)


class BrowserTool:
    spec = SPEC

    def __init__(self, pool: BrowserPool, media: ReplyMedia | None, *, scope: str = "agent",
                 image_channels: frozenset[str] = IMAGE_CHANNELS) -> None:
        self.pool = pool
        self._media = media
        self._scope = scope
        self._image_channels = image_channels

    def _key(self, context: ToolContext) -> str:
        return f"session:{context.session_key}" if self._scope == "session" else f"agent:{context.agent_id}"

    async def aclose(self) -> None:
        await self.pool.aclose()

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        action = arguments.get("action")
        if action not in (*ACTIONS, *ACT_KINDS):
            raise ToolError(f"'action' must be one of {', '.join((*ACTIONS, *ACT_KINDS))}, not {action!r}")
        key = self._key(context)
        if action == "status":
            open_ = self.pool.peek(key)
            tabs = len(open_.tabs) if open_ else 0
            return f"browser {'running' if self.pool.running else 'stopped'}; this profile has {tabs} tab(s)"
        if action == "stop":
            return "browser profile closed" if await self.pool.close_profile(key) else "browser was not running"
        limit = self.pool.settings.action_timeout_seconds
        try:
            # Starting Chromium has its own bound (the launch timeout), then the action gets the whole limit.
            profile = await self.pool.profile(key, context.agent_id)
            # Playwright's own timeouts fire first with a precise message; this bounds everything else.
            try:
                with anyio.fail_after(limit + 2):
                    return await self._dispatch(str(action), arguments, context, profile)
            finally:
                self.pool.release(profile)
        except TimeoutError:
            raise ToolError(f"browser action {action!r} did not finish within {limit:g} s "
                            "(browser.actionTimeoutSeconds)") from None

    async def _dispatch(self, action: str, args: dict[str, Any], context: ToolContext, profile: Profile) -> str:
        if action == "start":
            return "browser running"
        if action == "tabs":
            return await _tabs(profile)
        if action == "open":
            return await self._open(profile, args)
        if action == "focus":
            target = _text(args, "targetId")
            profile.page(target)
            profile.current = target
            await profile.page().bring_to_front()
            return f"focused tab {target}"
        if action == "close":
            page = profile.page(args.get("targetId") or None)
            target = profile.target_of(page)
            await page.close()
            return f"closed tab {target}; {len(profile.tabs)} tab(s) left"
        if action == "navigate":
            page = profile.page(args.get("targetId") or None)
            return await self._goto(profile, page, _text(args, "targetUrl"))
        if action == "snapshot":
            return await self._snapshot(profile, args)
        if action == "screenshot":
            return await self._screenshot(profile, args, context)
        request = args.get("request") if action == "act" else {**args, "kind": action}
        if not isinstance(request, dict):
            raise ToolError("action 'act' needs 'request': {kind, ref, ...}")
        return await self._act(profile, {**args, **request})

    async def _open(self, profile: Profile, args: dict[str, Any]) -> str:
        url = _text(args, "targetUrl")
        if len(profile.tabs) >= self.pool.settings.max_tabs:
            raise ToolError(f"{len(profile.tabs)} tabs are open (browser.maxTabs); close one first")
        page = await profile.context.new_page()
        target = self.pool.adopt(profile, page)
        return f"tab {target}: " + await self._goto(profile, page, url)

    async def _goto(self, profile: Profile, page: Page, url: str) -> str:
        await self.pool.check(url)  # a clear refusal before the browser even tries
        profile.refused.clear()
        try:
            response = await page.goto(url, wait_until="load")
        except Exception as exc:
            # A load still pending would end later as an error page over the next navigation: drop it.
            await quietly(page.goto("about:blank", wait_until="commit"))
            raise ToolError(self._explain(profile, f"opening {url} failed", exc)) from exc
        status = f" (HTTP {response.status})" if response is not None else ""
        return f"opened {page.url}{status}: {await page.title()!r}{self._refusals(profile)}"

    async def _snapshot(self, profile: Profile, args: dict[str, Any]) -> str:
        page = profile.page(args.get("targetId") or None)
        cap = min(int(args.get("maxChars") or self.pool.settings.snapshot_max_chars),
                  self.pool.settings.snapshot_max_chars)
        result = await page.evaluate(SNAPSHOT_JS, cap)
        lines = [f"page: {result['title']!r} {result['url']} (tab {profile.target_of(page)})", *result["lines"]]
        if result["truncated"]:
            lines.append(f"[... truncated at {cap} characters]")
        return "\n".join(lines) + self._refusals(profile)

    async def _screenshot(self, profile: Profile, args: dict[str, Any], context: ToolContext) -> str:
        page = profile.page(args.get("targetId") or None)
        if args.get("ref"):
            data = await self._locate(page, args["ref"]).screenshot(type="png")
        else:
            data = await page.screenshot(type="png", full_page=bool(args.get("fullPage")))
        if self._media is None or context.channel not in self._image_channels:
            return (f"screenshot taken ({len(data)} bytes) but not sent: the {context.channel} channel does not "
                    "deliver images yet (the web chat does); describe the page from a snapshot instead")
        self._media.add(context.session_key, Attachment(
            kind="image", mime="image/png", name="screenshot.png", data=data, size=len(data)))
        return f"screenshot of {page.url} ({len(data)} bytes) attached to the reply"

    async def _act(self, profile: Profile, req: dict[str, Any]) -> str:
        kind = req.get("kind")
        page = profile.page(req.get("targetId") or None)
        profile.refused.clear()
        timeout = self.pool.settings.action_timeout_seconds * 1000
        try:
            if kind == "click":
                await self._locate(page, req.get("ref")).click(timeout=timeout)
                done = f"clicked {req['ref']}"
            elif kind == "type":
                target = self._locate(page, req.get("ref"))
                await target.fill(_text(req, "text", empty=True), timeout=timeout)
                if req.get("submit"):
                    await _enter(page, target.press("Enter", timeout=timeout))
                done = f"typed into {req['ref']}" + (" and submitted" if req.get("submit") else "")
            elif kind == "fill":
                fields = req.get("fields")
                if not isinstance(fields, list) or not fields:
                    raise ToolError("fill needs 'fields': [{ref, value}]")
                for item in fields:
                    if not isinstance(item, dict):
                        raise ToolError("each of 'fields' must be {ref, value}")
                    await self._locate(page, item.get("ref")).fill(str(item.get("value", "")), timeout=timeout)
                done = f"filled {len(fields)} field(s)"
            elif kind == "press":
                key = _text(req, "key")
                pressing = (self._locate(page, req["ref"]).press(key, timeout=timeout) if req.get("ref")
                            else page.keyboard.press(key))
                await (_enter(page, pressing) if key == "Enter" else pressing)
                done = f"pressed {key}"
            elif kind == "hover":
                await self._locate(page, req.get("ref")).hover(timeout=timeout)
                done = f"hovering {req['ref']}"
            elif kind == "select":
                values = req.get("values")
                if not isinstance(values, list) or not values:
                    raise ToolError("select needs 'values': [option, ...]")
                await self._locate(page, req.get("ref")).select_option([str(v) for v in values], timeout=timeout)
                done = f"selected {', '.join(map(str, values))} in {req['ref']}"
            elif kind == "scroll":
                if req.get("ref"):
                    await self._locate(page, req["ref"]).scroll_into_view_if_needed(timeout=timeout)
                    done = f"scrolled {req['ref']} into view"
                else:
                    up = req.get("direction") == "up"
                    await page.mouse.wheel(0, -600 if up else 600)
                    done = f"scrolled {'up' if up else 'down'}"
            elif kind == "wait":
                done = await self._wait(page, req, timeout)
            else:
                raise ToolError(f"request kind must be one of {', '.join(ACT_KINDS)}, not {kind!r}")
            # Give a navigation the click or Enter started a chance to land before the model looks again.
            await page.wait_for_load_state("load", timeout=timeout)
        except ToolError:
            raise
        except Exception as exc:
            raise ToolError(self._explain(profile, f"{kind} failed", exc)) from exc
        return f"{done}; now at {page.url}{self._refusals(profile)}"

    async def _wait(self, page: Page, req: dict[str, Any], limit_ms: float) -> str:
        timeout = limit_ms
        if req.get("text"):
            await page.get_by_text(str(req["text"])).first.wait_for(state="visible", timeout=timeout)
            return f"{req['text']!r} is on the page"
        if req.get("textGone"):
            await page.get_by_text(str(req["textGone"])).first.wait_for(state="hidden", timeout=timeout)
            return f"{req['textGone']!r} is gone"
        ms = req.get("timeMs")
        if not isinstance(ms, int) or ms < 0:
            raise ToolError("wait needs 'text', 'textGone' or 'timeMs' (milliseconds)")
        if ms > timeout:
            raise ToolError(f"timeMs {ms} is longer than the action timeout ({timeout:g} ms)")
        await page.wait_for_timeout(ms)
        return f"waited {ms} ms"

    @staticmethod
    def _locate(page: Page, ref: object) -> Locator:
        match = _REF.match(str(ref or "").strip())
        if match is None:
            raise ToolError(f"'ref' must be a reference from the latest snapshot, like e3 (got {ref!r})")
        return page.locator(ref_selector("e" + match.group(1)))

    def _refusals(self, profile: Profile) -> str:
        if not profile.refused:
            return ""
        shown = "; ".join(dict.fromkeys(profile.refused))
        return f"\nblocked requests: {shown}"

    def _explain(self, profile: Profile, what: str, exc: Exception) -> str:
        first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        if "Timeout" in exc.__class__.__name__ or "Timeout" in first:
            first = f"it did not finish within {self.pool.settings.action_timeout_seconds:g} s " \
                    "(browser.actionTimeoutSeconds)"
        if profile.refused:
            first = "; ".join(dict.fromkeys(profile.refused))
        return f"{what}: {first}"


# Enter may submit a form; unlike a click, Playwright's key press does not wait for the navigation it starts.
ENTER_NAVIGATION_MS = 1500


async def _enter(page: Page, pressing: Awaitable[None]) -> None:
    """Presses Enter and waits (briefly) for a navigation it starts to commit; none is fine too."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    try:
        async with page.expect_navigation(wait_until="commit", timeout=ENTER_NAVIGATION_MS):
            await pressing
    except PlaywrightTimeout:
        pass  # the key did not navigate (a search box, a script that handles it)


async def _tabs(profile: Profile) -> str:
    await profile.settle()
    saved = f"\ndownloads saved in the workspace: {', '.join(profile.saved)}" if profile.saved else ""
    if not profile.tabs:
        return "no tabs open" + saved
    rows = []
    for target, page in profile.tabs.items():
        mark = "*" if target == profile.current else " "
        rows.append(f"{mark} {target}: {await page.title()!r} {page.url}")
    return "\n".join(rows) + saved


def _text(args: dict[str, Any], name: str, *, empty: bool = False) -> str:
    value = args.get(name)
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise ToolError(f"'{name}' must be a non-empty string")
    return value if empty else value.strip()
